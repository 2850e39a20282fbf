#include "persist/wal_writer.h"

#include <arrow/status.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <vector>

#include "persist/crc32c.h"
#include "persist/file_sync.h"
#include "persist/io_errors.h"
#include "persist/wal_format.h"
#include "persist/wal_segments.h"

namespace arbalest {

struct WalCompletion {
  bool done = false;  // guarded by the writer's mutex_
  arrow::Status status;
};

struct WalWriter::Pending {
  uint64_t lsn;
  std::array<uint8_t, kWalHeaderSize> header;
  WalPayload payload;
  int64_t payload_size;
  std::shared_ptr<WalCompletion> completion;
};

namespace {

arrow::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return IoErrorFromErrno(errno, "WAL: ", what, " ", path);
}

// Whether a failure to write or open may pass and leaves the log whole once the group is cut
// off: the disk, a quota or the file table is full.
bool LeavesTheLogUsable(const arrow::Status& status) {
  const IoFailure failure = ClassifyIoFailure(status);
  return failure == IoFailure::kDiskFull || failure == IoFailure::kTooManyFiles;
}

}  // namespace

arrow::Result<FsyncPolicy> ParseFsyncPolicy(std::string_view text) {
  if (text == "always") return FsyncPolicy::kAlways;
  if (text == "interval") return FsyncPolicy::kInterval;
  if (text == "none") return FsyncPolicy::kNone;
  return arrow::Status::Invalid("--fsync: unknown policy '", text, "' (always, interval, none)");
}

arrow::Result<std::unique_ptr<WalWriter>> WalWriter::Open(WalOptions options, uint64_t next_lsn) {
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  if (error) {
    return arrow::Status::IOError("WAL: cannot create ", options.dir, ": ", error.message());
  }
  std::unique_ptr<WalWriter> writer(new WalWriter(std::move(options), next_lsn));
  ARROW_RETURN_NOT_OK(writer->OpenSegment(next_lsn));
  writer->thread_ = std::thread([w = writer.get()] { w->Run(); });
  return writer;
}

WalWriter::WalWriter(WalOptions options, uint64_t next_lsn)
    : options_(std::move(options)),
      next_lsn_(next_lsn),
      last_sync_(std::chrono::steady_clock::now()) {}

WalWriter::~WalWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  if (thread_.joinable()) thread_.join();  // not started when Open failed
  if (fd_ >= 0) {
    if (unsynced_ && broken_.ok()) {
      if (arrow::Status synced = Sync(); !synced.ok()) spdlog::error("{}", synced.message());
    }
    ::close(fd_);
  }
}

arrow::Result<WalTicket> WalWriter::Enqueue(WalPayload payload) {
  std::vector<WalPayload> one;
  one.push_back(std::move(payload));
  ARROW_ASSIGN_OR_RAISE(std::vector<WalTicket> tickets, EnqueueAll(std::move(one)));
  return std::move(tickets.front());
}

arrow::Result<std::vector<WalTicket>> WalWriter::EnqueueAll(std::vector<WalPayload> payloads) {
  // The payload checksums are the expensive part: compute them in the caller's thread.
  std::vector<uint32_t> payload_crcs;
  for (const auto& payload : payloads) {
    uint32_t crc = 0;
    for (const auto& part : payload.parts) {
      crc = Crc32c(crc, part->data(), static_cast<size_t>(part->size()));
    }
    payload_crcs.push_back(crc);
  }
  std::vector<WalTicket> tickets;
  {
    std::lock_guard lock(mutex_);
    ARROW_RETURN_NOT_OK(broken_);
    // Queued under one lock, so the writer takes them into the same group.
    for (size_t i = 0; i < payloads.size(); ++i) {
      const uint64_t lsn = next_lsn_++;
      const int64_t size = payloads[i].size();
      auto completion = std::make_shared<WalCompletion>();
      queue_.push_back(Pending{lsn, EncodeHeader(lsn, static_cast<uint32_t>(size), payload_crcs[i]),
                               std::move(payloads[i]), size, completion});
      tickets.push_back(WalTicket{lsn, std::move(completion)});
    }
  }
  work_ready_.notify_one();
  return tickets;
}

arrow::Status WalWriter::Wait(const WalTicket& ticket) {
  std::unique_lock lock(mutex_);
  work_done_.wait(lock, [&] { return ticket.completion->done; });
  return ticket.completion->status;
}

arrow::Result<uint64_t> WalWriter::Append(WalPayload payload) {
  ARROW_ASSIGN_OR_RAISE(WalTicket ticket, Enqueue(std::move(payload)));
  ARROW_RETURN_NOT_OK(Wait(ticket));
  return ticket.lsn;
}

int64_t WalWriter::bytes_written() const {
  std::lock_guard lock(mutex_);
  return bytes_written_;
}

uint64_t WalWriter::next_lsn() const {
  std::lock_guard lock(mutex_);
  return next_lsn_;
}

int64_t WalWriter::failed_groups() const {
  std::lock_guard lock(mutex_);
  return failed_groups_;
}

bool WalWriter::failed() const {
  std::lock_guard lock(mutex_);
  return !broken_.ok();
}

void WalWriter::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    const bool timed = options_.fsync == FsyncPolicy::kInterval && unsynced_ && broken_.ok();
    if (timed) {
      work_ready_.wait_until(lock, last_sync_ + options_.fsync_interval,
                             [&] { return stopping_ || !queue_.empty(); });
    } else {
      work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    }
    if (queue_.empty()) {
      if (stopping_) return;
      if (timed && std::chrono::steady_clock::now() >= last_sync_ + options_.fsync_interval) {
        lock.unlock();
        // The records written since the last sync were acked already (--fsync interval): the
        // log cannot take them back, and may have lost them, so it fails.
        if (arrow::Status synced = Sync(); !synced.ok()) (void)FailLog(synced);
        lock.lock();
      }
      continue;
    }
    std::deque<Pending> group;
    group.swap(queue_);
    if (!broken_.ok()) {  // queued before the log failed
      Complete(group, broken_);
      work_done_.notify_all();
      continue;
    }
    lock.unlock();
    arrow::Status status = WriteGroup(group);
    if (!status.ok() && ClassifyIoFailure(status) != IoFailure::kLogFailed &&
        !LeavesTheLogUsable(status)) {
      status = FailLog(status);
    }
    lock.lock();
    Complete(group, status);
    work_done_.notify_all();
  }
}

void WalWriter::Complete(std::deque<Pending>& group, const arrow::Status& status) {
  for (auto& pending : group) {
    pending.completion->status = status;
    pending.completion->done = true;
    if (status.ok()) bytes_written_ += kWalHeaderSize + pending.payload_size;
  }
  if (status.ok()) return;
  ++failed_groups_;
  spdlog::error("{} ({} records not written)", status.message(), group.size());
  // The records queued meanwhile would follow the failed ones in the log: they fail too, and
  // their LSNs are handed out again with the failed group's, so that the log has no gap.
  for (auto& pending : queue_) {
    pending.completion->status = status;
    pending.completion->done = true;
  }
  queue_.clear();
  next_lsn_ = group.front().lsn;
  rewound_to_ = std::min(rewound_to_, next_lsn_);
}

bool WalWriter::CutBack(int64_t size) {
  if (::ftruncate(fd_, size) != 0) return false;
  segment_size_ = size;
  return true;
}

arrow::Status WalWriter::FailLog(const arrow::Status& cause) {
  std::lock_guard lock(mutex_);
  if (broken_.ok()) {
    broken_ = LogFailedError(cause);
    spdlog::critical("{}", broken_.message());
  }
  return broken_;
}

arrow::Status WalWriter::WriteGroup(const std::deque<Pending>& group) {
  if (segment_size_ >= options_.segment_bytes) {
    if (options_.fsync != FsyncPolicy::kNone && unsynced_) {
      if (arrow::Status synced = Sync(); !synced.ok()) return FailLog(synced);
    }
    ARROW_RETURN_NOT_OK(OpenSegment(group.front().lsn));
  }
  std::vector<iovec> iov;
  int64_t total = 0;
  for (const auto& pending : group) {
    iov.push_back({const_cast<uint8_t*>(pending.header.data()), kWalHeaderSize});
    for (const auto& part : pending.payload.parts) {
      iov.push_back({const_cast<uint8_t*>(part->data()), static_cast<size_t>(part->size())});
    }
    total += kWalHeaderSize + pending.payload_size;
  }
  // writev may write less than asked: advance through the iovecs until all is written.
  size_t first = 0;
  int64_t written = 0;
  while (written < total) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = ::writev(fd_, iov.data() + first, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      const arrow::Status failure = ErrnoStatus("write to", segment_path_);
      // Cut the partial group off so that the log ends with a whole record again.
      if (!CutBack(segment_size_)) {
        return FailLog(
            failure.WithMessage(failure.message(), "; cutting the partial group off failed too"));
      }
      return failure;
    }
    written += n;
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
  }
  const int64_t group_start = segment_size_;
  segment_size_ += total;
  unsynced_ = true;
  if (options_.fsync == FsyncPolicy::kAlways ||
      (options_.fsync == FsyncPolicy::kInterval &&
       std::chrono::steady_clock::now() >= last_sync_ + options_.fsync_interval)) {
    if (arrow::Status synced = Sync(); !synced.ok()) {
      // Not acked, so not to be found by a restart either (as far as the page cache goes).
      if (!CutBack(group_start))
        spdlog::error("WAL: cannot cut the failed group off {}", segment_path_);
      return FailLog(synced);
    }
  }
  return arrow::Status::OK();
}

arrow::Status WalWriter::Sync() {
  const auto start = std::chrono::steady_clock::now();
  if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync of", segment_path_);
  unsynced_ = false;
  last_sync_ = std::chrono::steady_clock::now();
  if (options_.on_sync) {
    options_.on_sync(std::chrono::duration<double>(last_sync_ - start).count());
  }
  return arrow::Status::OK();
}

arrow::Status WalWriter::OpenSegment(uint64_t first_lsn) {
  const std::string path =
      (std::filesystem::path(options_.dir) / WalSegmentName(first_lsn)).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create segment", path);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_path_ = path;
  segment_first_lsn_ = first_lsn;
  segment_size_ = 0;
  // Make the new file's directory entry durable too.
  if (arrow::Status synced = SyncDirectory(options_.dir); !synced.ok()) return FailLog(synced);
  return arrow::Status::OK();
}

arrow::Status WalWriter::DropSegmentsBefore(uint64_t lsn) {
  {
    // `lsn` was computed from a next_lsn() read before: a record written since with an LSN
    // handed out again may be below it.
    std::lock_guard lock(mutex_);
    lsn = std::min(lsn, rewound_to_);
    rewound_to_ = UINT64_MAX;
  }
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(options_.dir));
  const uint64_t active = segment_first_lsn_;
  // A segment holds LSNs up to the next segment's first LSN - 1.
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i + 1].first_lsn > lsn || segments[i].first_lsn >= active) break;
    std::error_code error;
    std::filesystem::remove(segments[i].path, error);
    if (error)
      return arrow::Status::IOError("WAL: cannot delete ", segments[i].path, ": ", error.message());
  }
  return SyncDirectory(options_.dir);
}

}  // namespace arbalest
