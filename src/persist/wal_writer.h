// The write-ahead log writer: one thread writes what many callers queued, with one write and at
// most one fsync per group (group commit).
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <sys/uio.h>

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
#include <vector>

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
  // options.dir, creating the directory if needed, and starts the writer thread. The segment
  // before it, if any, is sealed (unless it is already), and LOG_START is written if absent
  // (wal_segments.h), so that a segment lost later is noticed at startup.
  static arrow::Result<std::unique_ptr<WalWriter>> Open(WalOptions options, uint64_t next_lsn);

  // Writes and syncs what is queued, then stops the writer thread.
  ~WalWriter();
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Queues `payload` as the next record and returns at once; LSNs follow the order of the
  // calls. IOError when the log can no longer be written, or while it takes back records that
  // failed (see Wait). `on_failure`, if set, runs on the writer thread when the record fails,
  // before Wait returns and before any record queued later is taken: a caller takes back
  // there what it counted for the record (a dataset's row count, which records queued after
  // it log) while nothing numbered after it can reach the log. So a caller must not wait for
  // the log, or for a change queued before its record, while it holds a lock on_failure takes.
  arrow::Result<WalTicket> Enqueue(WalPayload payload, std::function<void()> on_failure = nullptr);

  // Blocks until the ticket's record is durable under the fsync policy. IOError when its group
  // could not be written or synced (disk full, I/O error): the record is then not in the log,
  // nor is any record queued after it (they fail too: they were numbered as if it were). The
  // log is cut back to the last whole record and its next LSN is the failed group's first, so
  // later records can still be written and the log has no gap in its LSNs.
  arrow::Status Wait(const WalTicket& ticket);

  // Enqueue, then Wait. Returns the record's LSN.
  arrow::Result<uint64_t> Append(WalPayload payload);

  // Deletes the segments whose records all have LSN < `lsn` (after a checkpoint). The segment
  // being written is never deleted. LOG_START is moved to the first segment kept before any
  // file goes.
  arrow::Status DropSegmentsBefore(uint64_t lsn);

  // Bytes written to the log since Open.
  int64_t bytes_written() const;

  // The LSN the next Enqueue will get: every record queued so far has a smaller one. It goes
  // back when a group fails (its LSNs are given again); DropSegmentsBefore allows for that.
  uint64_t next_lsn() const;

 private:
  struct Pending;
  WalWriter(WalOptions options, uint64_t next_lsn);
  void Run();
  arrow::Status WriteGroup(const std::deque<Pending>& group);
  // Fails `group` and every record queued after it, runs their on_failure, and gives their
  // LSNs again. Called by the writer thread with `lock` held.
  void FailGroup(std::deque<Pending>& group, const arrow::Status& status,
                 std::unique_lock<std::mutex>& lock);
  // Writes `bytes` (iovecs) at the end of the current segment; on failure cuts what was
  // written off again.
  arrow::Status WriteAll(std::vector<iovec> iov, int64_t bytes);
  // Creates the segment whose first record will have `first_lsn` and makes its directory entry
  // durable; returns its descriptor.
  arrow::Result<int> CreateSegment(uint64_t first_lsn, std::string* path);
  // Seals the current segment (the log continues at `next_lsn`), then makes `fd`, created by
  // CreateSegment, the current segment.
  arrow::Status Rotate(int fd, std::string path, uint64_t next_lsn);
  // The log cannot be repaired after `cause`: it takes no more writes.
  void Break(const arrow::Status& cause);
  arrow::Status Sync();

  const WalOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::deque<Pending> queue_;  // guarded by mutex_
  uint64_t next_lsn_;          // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  arrow::Status broken_;       // guarded by mutex_: set when the log cannot recover
  arrow::Status failing_;      // guarded by mutex_: set while failed records are taken back
  // The lowest LSN next_lsn_ went back to since the last DropSegmentsBefore. Guarded by mutex_.
  uint64_t rewound_to_ = UINT64_MAX;
  int64_t bytes_written_ = 0;  // guarded by mutex_

  // Owned by the writer thread.
  int fd_ = -1;
  std::string segment_path_;
  std::atomic<uint64_t> segment_first_lsn_{0};  // read by DropSegmentsBefore
  int64_t segment_size_ = 0;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point last_sync_;

  std::mutex drop_mutex_;   // serializes DropSegmentsBefore
  uint64_t log_start_ = 0;  // guarded by drop_mutex_: LOG_START as last written

  std::thread thread_;
};

}  // namespace arbalest
