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
#include <optional>
#include <vector>

#include "common/thread_name.h"
#include "persist/crc32c.h"
#include "persist/direct_append.h"
#include "persist/file_sync.h"
#include "persist/io_errors.h"
#include "persist/wal_format.h"
#include "persist/wal_reader.h"
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
  std::function<void()> on_failure;  // set on the group's last record only
};

namespace {

// The smallest group written with direct I/O under --fsync interval and none.
constexpr int64_t kDirectMinBytes = int64_t{1} << 20;

arrow::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return IoErrorFromErrno(errno, "WAL: ", what, " ", path);
}

// Whether a failure to write or open may pass and leaves the log whole once the group is cut
// off: the disk, a quota or the file table is full.
bool LeavesTheLogUsable(const arrow::Status& status) {
  const IoFailure failure = ClassifyIoFailure(status);
  return failure == IoFailure::kDiskFull || failure == IoFailure::kTooManyFiles;
}

// The seal record (header and payload) that ends a segment: the log continues at `next_lsn`.
std::string SealRecord(uint64_t next_lsn) {
  const WalPayload payload = EncodeSeal(next_lsn);
  const auto& body = *payload.parts.front();
  const auto header = EncodeHeader(next_lsn, static_cast<uint32_t>(body.size()),
                                   Crc32c(0, body.data(), static_cast<size_t>(body.size())));
  std::string record(reinterpret_cast<const char*>(header.data()), header.size());
  record.append(reinterpret_cast<const char*>(body.data()), static_cast<size_t>(body.size()));
  return record;
}

// Appends a seal to the segment `fd` at `path`, `size` bytes long: the log continues at
// `next_lsn`. Synced unless `fsync` is kNone. On failure the segment is cut back to `size`;
// IOError (with `*broken` set when even that failed).
arrow::Status AppendSeal(int fd, const std::string& path, int64_t size, uint64_t next_lsn,
                         FsyncPolicy fsync, bool* broken) {
  const std::string record = SealRecord(next_lsn);
  const bool written =
      ::pwrite(fd, record.data(), record.size(), size) == static_cast<ssize_t>(record.size());
  if (written && (fsync == FsyncPolicy::kNone || ::fdatasync(fd) == 0)) {
    return arrow::Status::OK();
  }
  arrow::Status failure = ErrnoStatus(written ? "fdatasync of" : "cannot seal", path);
  *broken = ::ftruncate(fd, size) != 0;
  return failure;
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
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(options.dir));
  ARROW_ASSIGN_OR_RAISE(std::optional<uint64_t> log_start, ReadWalLogStart(options.dir));
  std::unique_ptr<WalWriter> writer(new WalWriter(options, next_lsn));
  std::string path;
  ARROW_ASSIGN_OR_RAISE(SegmentFile segment, writer->CreateSegment(next_lsn, &path));
  writer->fd_ = segment.fd;
  writer->direct_ = std::move(segment.direct);
  writer->segment_path_ = path;
  writer->segment_first_lsn_ = next_lsn;
  // The segment the log continued in until now ends here: seal it, so that if the new one is
  // lost a restart notices.
  auto before = std::find_if(segments.rbegin(), segments.rend(), [&](const WalSegment& segment) {
    return segment.first_lsn < next_lsn;
  });
  if (before != segments.rend()) {
    const std::string& previous = before->path;
    ARROW_ASSIGN_OR_RAISE(const bool sealed, WalSegmentIsSealed(previous));
    if (!sealed) {
      const int previous_fd = ::open(previous.c_str(), O_WRONLY | O_CLOEXEC);
      if (previous_fd < 0) return ErrnoStatus("cannot open", previous);
      bool broken = false;
      arrow::Status status = AppendSeal(previous_fd, previous, ::lseek(previous_fd, 0, SEEK_END),
                                        next_lsn, options.fsync, &broken);
      ::close(previous_fd);
      ARROW_RETURN_NOT_OK(status);
    }
  }
  const uint64_t start = log_start          ? *log_start
                         : segments.empty() ? next_lsn
                                            : segments.front().first_lsn;
  if (!log_start) ARROW_RETURN_NOT_OK(WriteWalLogStart(options.dir, start));
  {
    MutexLock dropping(&writer->drop_mutex_);
    writer->log_start_ = start;
  }
  writer->thread_ = std::thread([w = writer.get()] { w->Run(); });
  return writer;
}

WalWriter::WalWriter(WalOptions options, uint64_t next_lsn)
    : options_(std::move(options)),
      next_lsn_(next_lsn),
      direct_io_(options_.direct_io),
      last_sync_(std::chrono::steady_clock::now()) {}

WalWriter::~WalWriter() {
  {
    MutexLock lock(&mutex_);
    stopping_ = true;
  }
  work_ready_.SignalAll();
  if (thread_.joinable()) thread_.join();  // not started when Open failed
  if (fd_ >= 0) {
    if (unsynced_ && broken_.ok()) {
      if (arrow::Status synced = Sync(); !synced.ok()) spdlog::error("{}", synced.message());
    }
    if (!direct_) ::close(fd_);  // else closed with direct_
  }
}

arrow::Result<WalTicket> WalWriter::Enqueue(WalPayload payload, std::function<void()> on_failure) {
  std::vector<WalPayload> one;
  one.push_back(std::move(payload));
  ARROW_ASSIGN_OR_RAISE(std::vector<WalTicket> tickets,
                        EnqueueAll(std::move(one), std::move(on_failure)));
  return std::move(tickets.front());
}

arrow::Result<std::vector<WalTicket>> WalWriter::EnqueueAll(std::vector<WalPayload> payloads,
                                                            std::function<void()> on_failure) {
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
    MutexLock lock(&mutex_);
    ARROW_RETURN_NOT_OK(broken_);
    ARROW_RETURN_NOT_OK(failing_);
    // Queued under one lock, so the writer takes them into the same group.
    for (size_t i = 0; i < payloads.size(); ++i) {
      const uint64_t lsn = next_lsn_++;
      const int64_t size = payloads[i].size();
      auto completion = std::make_shared<WalCompletion>();
      queue_.push_back(Pending{lsn, EncodeHeader(lsn, static_cast<uint32_t>(size), payload_crcs[i]),
                               std::move(payloads[i]), size, completion, nullptr});
      tickets.push_back(WalTicket{lsn, std::move(completion)});
    }
    if (!payloads.empty()) queue_.back().on_failure = std::move(on_failure);
  }
  work_ready_.Signal();
  return tickets;
}

arrow::Status WalWriter::Wait(const WalTicket& ticket) {
  MutexLock lock(&mutex_);
  while (!ticket.completion->done) work_done_.Wait(&mutex_);
  return ticket.completion->status;
}

arrow::Result<uint64_t> WalWriter::Append(WalPayload payload) {
  ARROW_ASSIGN_OR_RAISE(WalTicket ticket, Enqueue(std::move(payload)));
  ARROW_RETURN_NOT_OK(Wait(ticket));
  return ticket.lsn;
}

int64_t WalWriter::bytes_written() const {
  MutexLock lock(&mutex_);
  return bytes_written_;
}

uint64_t WalWriter::next_lsn() const {
  MutexLock lock(&mutex_);
  return next_lsn_;
}

int64_t WalWriter::failed_groups() const {
  MutexLock lock(&mutex_);
  return failed_groups_;
}

bool WalWriter::failed() const {
  MutexLock lock(&mutex_);
  return !broken_.ok();
}

void WalWriter::Run() {
  SetCurrentThreadName("arb-wal");
  mutex_.Lock();
  while (true) {
    const bool timed = options_.fsync == FsyncPolicy::kInterval && unsynced_ && broken_.ok();
    if (timed) {
      const auto deadline = last_sync_ + options_.fsync_interval;
      while (!stopping_ && queue_.empty() && work_ready_.WaitUntil(&mutex_, deadline)) {
      }
    } else {
      while (!stopping_ && queue_.empty()) work_ready_.Wait(&mutex_);
    }
    if (queue_.empty()) {
      if (stopping_) break;
      if (timed && std::chrono::steady_clock::now() >= last_sync_ + options_.fsync_interval) {
        mutex_.Unlock();
        // The records written since the last sync were acked already (--fsync interval): the
        // log cannot take them back, and may have lost them, so it fails.
        if (arrow::Status synced = Sync(); !synced.ok()) (void)FailLog(synced);
        mutex_.Lock();
      }
      continue;
    }
    std::deque<Pending> group;
    group.swap(queue_);
    if (!broken_.ok()) {  // queued before the log failed
      Complete(group, broken_);
      work_done_.SignalAll();
      continue;
    }
    mutex_.Unlock();
    arrow::Status status = WriteGroup(group);
    if (!status.ok() && ClassifyIoFailure(status) != IoFailure::kLogFailed &&
        !LeavesTheLogUsable(status)) {
      status = FailLog(status);
    }
    mutex_.Lock();
    Complete(group, status);
    work_done_.SignalAll();
  }
  mutex_.Unlock();
}

void WalWriter::Complete(std::deque<Pending>& group, const arrow::Status& status) {
  if (status.ok()) {
    for (auto& pending : group) {
      pending.completion->done = true;
      bytes_written_ += kWalHeaderSize + pending.payload_size;
    }
    return;
  }
  ++failed_groups_;
  spdlog::error("{} ({} records not written)", status.message(), group.size());
  // The records queued meanwhile have LSNs after the group's, and row counts that counted it:
  // they fail too, and nothing is queued until every failed record's caller took back what it
  // counted (on_failure, run without the lock). Then the group's LSNs are handed out again, so
  // that the log has no gap.
  for (auto& pending : queue_) group.push_back(std::move(pending));
  queue_.clear();
  failing_ = status;
  mutex_.Unlock();
  for (auto& pending : group) {
    if (pending.on_failure) pending.on_failure();
  }
  mutex_.Lock();
  for (auto& pending : group) {
    pending.completion->status = status;
    pending.completion->done = true;
  }
  next_lsn_ = group.front().lsn;
  rewound_to_ = std::min(rewound_to_, next_lsn_);
  failing_ = arrow::Status::OK();
}

arrow::Status WalWriter::WriteAll(std::vector<iovec> iov, int64_t total) {
  // writev may write less than asked: advance through the iovecs until all is written.
  size_t first = 0;
  for (int64_t written = 0; written < total;) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = ::writev(fd_, iov.data() + first, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoErrorFromErrno(errno, "write to ", segment_path_);
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
  return arrow::Status::OK();
}

arrow::Status WalWriter::CutOff(const arrow::Status& failure, std::string_view what) {
  if (CutBack(segment_size_)) return failure;
  return FailLog(
      failure.WithMessage(failure.message(), "; cutting the partial ", what, " off failed too"));
}

bool WalWriter::CutBack(int64_t size) {
  if (direct_ ? !direct_->Truncate(size).ok() : ::ftruncate(fd_, size) != 0) return false;
  segment_size_ = size;
  return true;
}

arrow::Status WalWriter::FailLog(const arrow::Status& cause) {
  MutexLock lock(&mutex_);
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
    std::string path;
    ARROW_ASSIGN_OR_RAISE(SegmentFile segment, CreateSegment(group.front().lsn, &path));
    ARROW_RETURN_NOT_OK(Rotate(std::move(segment), std::move(path), group.front().lsn));
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
  // Small groups go through the page cache unless each is synced anyway: a direct write waits
  // for the device, which costs a few-row put more than the copy it saves.
  const bool direct = options_.fsync == FsyncPolicy::kAlways || total >= kDirectMinBytes;
  if (arrow::Status written =
          direct_ ? direct_->Append(iov, direct) : WriteAll(std::move(iov), total);
      !written.ok()) {
    return CutOff(written.WithMessage("WAL: ", written.message()), "group");
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

arrow::Result<WalWriter::SegmentFile> WalWriter::CreateSegment(uint64_t first_lsn,
                                                               std::string* path) {
  *path = (std::filesystem::path(options_.dir) / WalSegmentName(first_lsn)).string();
  SegmentFile segment;
  if (direct_io_) {
    auto direct = DirectAppender::Create(*path);
    if (!direct.ok()) {
      return direct.status().WithMessage("WAL: cannot create segment: ", direct.status().message());
    }
    segment.direct = std::move(*direct);
    if (!segment.direct) {
      spdlog::info("WAL: {} does not take direct I/O; writing through the page cache",
                   options_.dir);
      direct_io_ = false;
    }
  }
  segment.fd = segment.direct ? segment.direct->fd()
                              : ::open(path->c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (segment.fd < 0) return ErrnoStatus("cannot create segment", *path);
  // Make the new file's directory entry durable too (before the segment before it is sealed).
  if (arrow::Status synced = SyncDirectory(options_.dir); !synced.ok()) {
    if (!segment.direct) ::close(segment.fd);
    return FailLog(synced);
  }
  return segment;
}

arrow::Status WalWriter::SealSegment(uint64_t next_lsn) {
  if (!direct_) {
    bool broken = false;
    arrow::Status sealed =
        AppendSeal(fd_, segment_path_, segment_size_, next_lsn, options_.fsync, &broken);
    if (broken) {
      return FailLog(
          sealed.WithMessage(sealed.message(), "; cutting the partial seal off failed too"));
    }
    return sealed;
  }
  const std::string record = SealRecord(next_lsn);
  const iovec part{const_cast<char*>(record.data()), record.size()};
  arrow::Status sealed = direct_->Append(std::span<const iovec>(&part, 1));
  if (sealed.ok() && options_.fsync != FsyncPolicy::kNone && ::fdatasync(fd_) != 0) {
    sealed = ErrnoStatus("fdatasync of", segment_path_);
  }
  if (sealed.ok()) return sealed;
  return CutOff(sealed.WithMessage("WAL: cannot seal ", segment_path_, ": ", sealed.message()),
                "seal");
}

arrow::Status WalWriter::Rotate(SegmentFile segment, std::string path, uint64_t next_lsn) {
  if (arrow::Status sealed = SealSegment(next_lsn); !sealed.ok()) {
    // The empty segment is made again by the next try. Run fails the log unless the disk or
    // the file table was full.
    if (!segment.direct) ::close(segment.fd);
    return sealed;
  }
  if (!direct_) ::close(fd_);
  direct_ = std::move(segment.direct);
  fd_ = segment.fd;
  segment_path_ = std::move(path);
  segment_first_lsn_ = next_lsn;
  segment_size_ = 0;
  unsynced_ = false;
  return arrow::Status::OK();
}

arrow::Status WalWriter::DropSegmentsBefore(uint64_t lsn) {
  MutexLock dropping(&drop_mutex_);
  {
    // `lsn` was computed from a next_lsn() read before: a record written since with an LSN
    // handed out again may be below it.
    MutexLock lock(&mutex_);
    lsn = std::min(lsn, rewound_to_);
    rewound_to_ = UINT64_MAX;
  }
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(options_.dir));
  const uint64_t active = segment_first_lsn_;
  // A segment holds LSNs up to the next segment's first LSN - 1.
  size_t dropped = 0;
  while (dropped + 1 < segments.size() && segments[dropped + 1].first_lsn <= lsn &&
         segments[dropped].first_lsn < active) {
    ++dropped;
  }
  if (dropped == 0) return arrow::Status::OK();
  // Where the log starts now, durable before any segment goes: a restart that finds the first
  // segment after it knows that segments were lost.
  const uint64_t log_start = segments[dropped].first_lsn;
  if (log_start > log_start_) {
    ARROW_RETURN_NOT_OK(WriteWalLogStart(options_.dir, log_start));
    log_start_ = log_start;
  }
  for (size_t i = 0; i < dropped; ++i) {
    std::error_code error;
    std::filesystem::remove(segments[i].path, error);
    if (error)
      return arrow::Status::IOError("WAL: cannot delete ", segments[i].path, ": ", error.message());
  }
  return SyncDirectory(options_.dir);
}

}  // namespace arbalest
