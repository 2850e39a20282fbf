// The write-ahead log writer: one thread writes what many callers queued, with one write and at
// most one fsync per group (group commit).
//
// When a group cannot be written, none of its records is acknowledged, and none is left in the
// log for a restart to find. A failure that leaves the log whole and may pass (the disk, a quota
// or the file table is full: ENOSPC, EDQUOT, EFBIG, EMFILE, ENFILE on write or open) cuts the
// group off and the log goes on; the records queued behind the group fail with it and their LSNs
// are handed out again, so the log never has a gap. Any other failure (EIO, or any failed
// fsync: after one, the kernel may have dropped the dirty pages, so a later fsync that succeeds
// proves nothing) fails the log: the group is cut off where possible, and every later record is
// refused (IoFailure::kLogFailed) until the process restarts and recovery reads what is on disk.
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "persist/wal_format.h"

namespace arbalest {

class DirectAppender;

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
  // Writes segments with direct I/O (persist/direct_append.h): no copy into the page cache. A
  // file system without direct I/O (tmpfs) is written through the page cache instead.
  bool direct_io = true;
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
  // calls. IOError (kLogFailed) once the log has failed; the failure's status while the log
  // takes back records that failed (see Wait). `on_failure`, if set, runs on the writer thread
  // when the record fails, before Wait returns and before any record queued later is taken: a
  // caller takes back there what it counted for the record (a dataset's row count, which
  // records queued after it log) while nothing numbered after it can reach the log. So a caller
  // must not wait for the log, or for a change queued before its record, while it holds a lock
  // on_failure takes.
  arrow::Result<WalTicket> Enqueue(WalPayload payload, std::function<void()> on_failure = nullptr);

  // Queues `payloads` as consecutive records of one group: they are written, or fail, together.
  // `on_failure` runs once if they fail, as for Enqueue.
  arrow::Result<std::vector<WalTicket>> EnqueueAll(std::vector<WalPayload> payloads,
                                                   std::function<void()> on_failure = nullptr);

  // Blocks until the ticket's record is durable under the fsync policy. IOError when its group
  // could not be written (see the top of this file): the record is then not in the log, nor is
  // any record queued after it (they fail too: they were numbered as if it were).
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
  // back when a group fails (its LSNs are handed out again); DropSegmentsBefore allows for that.
  uint64_t next_lsn() const;

  // Groups that could not be written since Open.
  int64_t failed_groups() const;

  // Whether the log has failed and refuses every record (see the top of this file).
  bool failed() const;

 private:
  struct Pending;
  // A segment file just created: its descriptor, and its appender under direct I/O.
  struct SegmentFile {
    int fd = -1;
    std::unique_ptr<DirectAppender> direct;
  };
  WalWriter(WalOptions options, uint64_t next_lsn);
  void Run() EXCLUDES(mutex_);
  arrow::Status WriteGroup(const std::deque<Pending>& group);
  // Records the outcome of a group written (or not) by the writer thread. A failed group takes
  // every record queued after it along, runs their on_failure (mutex_ released meanwhile) and
  // hands their LSNs out again.
  void Complete(std::deque<Pending>& group, const arrow::Status& status) REQUIRES(mutex_);
  // Creates the segment whose first record will have `first_lsn` and makes its directory entry
  // durable.
  arrow::Result<SegmentFile> CreateSegment(uint64_t first_lsn, std::string* path);
  // Appends the seal (the log continues at `next_lsn`) to the current segment, synced unless
  // the policy is kNone; on failure the segment is cut back as it was.
  arrow::Status SealSegment(uint64_t next_lsn);
  // Seals the current segment, then makes `segment`, created by CreateSegment, the current one.
  arrow::Status Rotate(SegmentFile segment, std::string path, uint64_t next_lsn);
  arrow::Status Sync();
  // Truncates the segment back to `size` bytes (cutting off a failed group); false if it cannot.
  bool CutBack(int64_t size);
  // Writes the iovecs' bytes (`total` of them) at the end of the segment through the page
  // cache.
  arrow::Status WriteAll(std::vector<iovec> iov, int64_t total);
  // Cuts the segment back to segment_size_ after `failure` wrote part of a `what` (a group, a
  // seal): returns `failure`, or fails the log when even the cut fails.
  arrow::Status CutOff(const arrow::Status& failure, std::string_view what);
  // Fails the log for good because of `cause`; returns the status every later record gets.
  arrow::Status FailLog(const arrow::Status& cause) EXCLUDES(mutex_);

  const WalOptions options_;

  mutable Mutex mutex_;
  CondVar work_ready_;  // signalled when a record is queued or the writer is to stop
  CondVar work_done_;   // signalled when a group is complete (written or failed)
  std::deque<Pending> queue_ GUARDED_BY(mutex_);
  uint64_t next_lsn_ GUARDED_BY(mutex_);
  bool stopping_ GUARDED_BY(mutex_) = false;
  arrow::Status broken_ GUARDED_BY(mutex_);   // set when the log has failed
  arrow::Status failing_ GUARDED_BY(mutex_);  // set while failed records are taken back
  int64_t bytes_written_ GUARDED_BY(mutex_) = 0;
  int64_t failed_groups_ GUARDED_BY(mutex_) = 0;
  // The lowest LSN next_lsn_ went back to since the last DropSegmentsBefore.
  uint64_t rewound_to_ GUARDED_BY(mutex_) = UINT64_MAX;

  // Owned by the writer thread.
  int fd_ = -1;                             // the current segment (direct_'s when set)
  std::unique_ptr<DirectAppender> direct_;  // set when the segment is written with direct I/O
  bool direct_io_;  // options_.direct_io, cleared when the file system does not take it
  std::string segment_path_;
  std::atomic<uint64_t> segment_first_lsn_{0};  // read by DropSegmentsBefore
  int64_t segment_size_ = 0;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point last_sync_;

  Mutex drop_mutex_;                                // serializes DropSegmentsBefore
  uint64_t log_start_ GUARDED_BY(drop_mutex_) = 0;  // LOG_START as last written

  std::thread thread_;
};

}  // namespace arbalest
