// An append-only file whose owner records how many of its bytes are valid: a snapshot's
// vectors file, which each snapshot extends with the rows added since the previous one and
// whose manifest records the valid length and one checksum per append (a chunk). Bytes past
// the recorded length were appended by a snapshot that never finished: they are ignored by
// readers and cut off by the next append. A checksum per chunk, not one over the whole
// prefix, so that an append reads nothing back: its cost follows the bytes appended.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "persist/file_digest.h"

struct XXH3_state_s;

namespace arbalest {

// Not thread-safe.
class ChunkAppender {
 public:
  // Opens `path` (created when absent and `valid_bytes` is 0) to append after its first
  // `valid_bytes` bytes, cutting off any later ones. Invalid, naming the file, when it is
  // shorter than `valid_bytes`; IOError when it cannot be opened.
  static arrow::Result<std::unique_ptr<ChunkAppender>> Open(const std::string& path,
                                                            int64_t valid_bytes);
  ~ChunkAppender();
  ChunkAppender(const ChunkAppender&) = delete;
  ChunkAppender& operator=(const ChunkAppender&) = delete;

  arrow::Status Append(std::span<const uint8_t> bytes);
  // Flushes and closes the file (the caller fsyncs it) and returns the chunk appended: its
  // bytes and their XXH3-64.
  arrow::Result<FileDigest> Finish();

 private:
  ChunkAppender(std::string path, std::FILE* file);

  const std::string path_;
  std::FILE* file_;
  XXH3_state_s* state_;
  int64_t bytes_ = 0;
};

// Checks the chunks of a file mapped at `data` (`size` bytes, the sum of the chunks' bytes)
// against their recorded checksums. Invalid, naming `path` and the chunk, when one differs.
arrow::Status VerifyChunks(const std::string& path, const uint8_t* data, int64_t size,
                           std::span<const FileDigest> chunks);

}  // namespace arbalest
