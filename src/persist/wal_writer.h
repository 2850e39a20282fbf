// The write-ahead log writer: one thread writes what many callers queued, with one write and at
// most one fsync per group (group commit).
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "persist/wal_format.h"

namespace arbalest {

// When a logged record counts as durable, and so when a put is acked.
//   kAlways:   after fdatasync of its group. Survives process and machine crashes.
//   kInterval: after write() into the page cache; fdatasync follows within fsync_interval.
//              Survives process crashes; a machine crash may lose the last interval.
//   kNone:     after write(); the kernel flushes when it likes. Survives process crashes only.
enum class FsyncPolicy { kAlways, kInterval, kNone };

// Parses "always", "interval" or "none".
arrow::Result<FsyncPolicy> ParseFsyncPolicy(std::string_view text);

struct WalOptions {
  std::string dir;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{10};
  int64_t segment_bytes = int64_t{64} << 20;  // rotate past this size
  // Called by the writer thread with the seconds each fdatasync took (metrics); may be empty.
  std::function<void(double seconds)> on_sync;
};

// A queued record; pass it to WalWriter::Wait.
struct WalTicket {
  uint64_t lsn = 0;
  std::shared_ptr<struct WalCompletion> completion;
};

// Thread-safe.
class WalWriter {
 public:
  // Opens a new segment whose first record will have `next_lsn` (1 for a new log) in
  // options.dir, creating the directory if needed, and starts the writer thread.
  static arrow::Result<std::unique_ptr<WalWriter>> Open(WalOptions options, uint64_t next_lsn);

  // Writes and syncs what is queued, then stops the writer thread.
  ~WalWriter();
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Queues `payload` as the next record and returns at once; LSNs follow the order of the
  // calls. IOError when the log can no longer be written (see Wait).
  arrow::Result<WalTicket> Enqueue(WalPayload payload);

  // Blocks until the ticket's record is durable under the fsync policy. IOError when its group
  // could not be written (disk full, I/O error): the record is then not in the log, and the log
  // is cut back to the last whole record so later records can still be written.
  arrow::Status Wait(const WalTicket& ticket);

  // Enqueue, then Wait. Returns the record's LSN.
  arrow::Result<uint64_t> Append(WalPayload payload);

  // Deletes the segments whose records all have LSN < `lsn` (after a checkpoint). The segment
  // being written is never deleted.
  arrow::Status DropSegmentsBefore(uint64_t lsn);

  // Bytes written to the log since Open.
  int64_t bytes_written() const;

 private:
  struct Pending;
  WalWriter(WalOptions options, uint64_t next_lsn);
  void Run();
  arrow::Status WriteGroup(const std::deque<Pending>& group);
  arrow::Status OpenSegment(uint64_t first_lsn);
  arrow::Status Sync();

  const WalOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::deque<Pending> queue_;  // guarded by mutex_
  uint64_t next_lsn_;          // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  arrow::Status broken_;       // guarded by mutex_: set when the log cannot recover
  int64_t bytes_written_ = 0;  // guarded by mutex_

  // Owned by the writer thread.
  int fd_ = -1;
  std::string segment_path_;
  std::atomic<uint64_t> segment_first_lsn_{0};  // read by DropSegmentsBefore
  int64_t segment_size_ = 0;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point last_sync_;

  std::thread thread_;
};

}  // namespace arbalest
