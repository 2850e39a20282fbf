// Progress of the WAL replay at startup, for the log: a restart that replays gigabytes says how
// far it is and about how long is left, at most once every `interval`, instead of going quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace arbalest {

// Not thread-safe: replay runs on one thread.
class ReplayProgress {
 public:
  using Clock = std::chrono::steady_clock;

  // `total_bytes`: the log's size on disk (what replay will read, framing included).
  explicit ReplayProgress(int64_t total_bytes,
                          std::chrono::milliseconds interval = std::chrono::seconds(5),
                          Clock::time_point start = Clock::now());

  // One record of `bytes` replayed, at `now`. Returns the progress line to log when one is due
  // (empty otherwise).
  std::string Note(int64_t bytes, Clock::time_point now = Clock::now());

  int64_t records() const { return records_; }
  int64_t bytes() const { return bytes_; }

 private:
  const int64_t total_bytes_;
  const std::chrono::milliseconds interval_;
  const Clock::time_point start_;
  Clock::time_point last_line_;
  int64_t records_ = 0;
  int64_t bytes_ = 0;
};

// The bytes of the regular files in `wal_dir` (0 when it cannot be read).
int64_t WalBytesOnDisk(const std::string& wal_dir);

}  // namespace arbalest
