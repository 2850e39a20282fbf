// The size and XXH3-64 checksum of a file: what a snapshot manifest records for each of its
// files, so that a damaged or truncated file is found before it is loaded.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>

namespace arbalest {

struct FileDigest {
  int64_t bytes = 0;
  uint64_t xxh3 = 0;

  bool operator==(const FileDigest&) const = default;
};

// Reads the whole file at `path`. IOError names the file when it cannot be read.
arrow::Result<FileDigest> DigestFile(const std::string& path);

}  // namespace arbalest
