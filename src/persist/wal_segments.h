// The files of a WAL directory, shared by the writer and the reader: the segment files, and
// LOG_START, which says where the log starts once a checkpoint has deleted its first segments.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace arbalest {

struct WalSegment {
  uint64_t first_lsn = 0;
  std::string path;
};

// The segments of `dir` sorted by first LSN; an empty list when `dir` does not exist. Files
// that are not segments are ignored.
arrow::Result<std::vector<WalSegment>> ListWalSegments(const std::string& dir);

// LOG_START holds the first LSN of the log's first segment (decimal, a line): the log must
// start at or before it. A checkpoint moves it forward before it deletes segments, and a new
// log starts with it, so that a first segment lost later is noticed. Logs written before it
// have none.
inline constexpr std::string_view kWalLogStartFile = "LOG_START";

// The LSN in `dir`'s LOG_START; nullopt when there is none. IOError when it cannot be read or
// parsed.
arrow::Result<std::optional<uint64_t>> ReadWalLogStart(const std::string& dir);

// Replaces `dir`'s LOG_START with `lsn`, durably (a temporary file, fsynced, renamed over it,
// and the directory fsynced): after a crash it holds the old LSN or the new one.
arrow::Status WriteWalLogStart(const std::string& dir, uint64_t lsn);

}  // namespace arbalest
