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
#include <cstring>
#include <filesystem>
#include <vector>

#include "persist/crc32c.h"
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
  return arrow::Status::IOError("WAL: ", what, " ", path, ": ", std::strerror(errno));
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
  thread_.join();
  if (fd_ >= 0) {
    if (unsynced_) (void)Sync();
    ::close(fd_);
  }
}

arrow::Result<WalTicket> WalWriter::Enqueue(WalPayload payload) {
  // The payload checksum is the expensive part: compute it in the caller's thread.
  uint32_t payload_crc = 0;
  for (const auto& part : payload.parts) {
    payload_crc = Crc32c(payload_crc, part->data(), static_cast<size_t>(part->size()));
  }
  const int64_t size = payload.size();
  auto completion = std::make_shared<WalCompletion>();
  uint64_t lsn;
  {
    std::lock_guard lock(mutex_);
    ARROW_RETURN_NOT_OK(broken_);
    lsn = next_lsn_++;
    queue_.push_back(Pending{lsn, EncodeHeader(lsn, static_cast<uint32_t>(size), payload_crc),
                             std::move(payload), size, completion});
  }
  work_ready_.notify_one();
  return WalTicket{lsn, std::move(completion)};
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

void WalWriter::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    const bool timed = options_.fsync == FsyncPolicy::kInterval && unsynced_;
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
        arrow::Status status = Sync();
        if (!status.ok()) spdlog::error("{}", status.message());
        lock.lock();
      }
      continue;
    }
    std::deque<Pending> group;
    group.swap(queue_);
    lock.unlock();
    const arrow::Status status = WriteGroup(group);
    lock.lock();
    for (auto& pending : group) {
      pending.completion->status = status;
      pending.completion->done = true;
      if (status.ok()) bytes_written_ += kWalHeaderSize + pending.payload_size;
    }
    work_done_.notify_all();
  }
}

arrow::Status WalWriter::WriteGroup(const std::deque<Pending>& group) {
  if (segment_size_ >= options_.segment_bytes) {
    if (options_.fsync != FsyncPolicy::kNone && unsynced_) ARROW_RETURN_NOT_OK(Sync());
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
      arrow::Status failure = ErrnoStatus("write to", segment_path_);
      // Cut the partial group off so that the log ends with a whole record again.
      if (::ftruncate(fd_, segment_size_) != 0) {
        std::lock_guard lock(mutex_);
        broken_ = arrow::Status::IOError(
            failure.message(), "; the log could not be repaired and takes no more writes");
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
  segment_size_ += total;
  unsynced_ = true;
  if (options_.fsync == FsyncPolicy::kAlways ||
      (options_.fsync == FsyncPolicy::kInterval &&
       std::chrono::steady_clock::now() >= last_sync_ + options_.fsync_interval)) {
    return Sync();
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
  return SyncDirectory(options_.dir);
}

arrow::Status WalWriter::DropSegmentsBefore(uint64_t lsn) {
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
