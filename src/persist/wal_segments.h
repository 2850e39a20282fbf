// Listing the segment files of a WAL directory, shared by the writer and the reader.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <vector>

namespace arbalest {

struct WalSegment {
  uint64_t first_lsn = 0;
  std::string path;
};

// The segments of `dir` sorted by first LSN; an empty list when `dir` does not exist. Files
// that are not segments are ignored.
arrow::Result<std::vector<WalSegment>> ListWalSegments(const std::string& dir);

}  // namespace arbalest
