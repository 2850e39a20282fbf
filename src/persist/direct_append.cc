#include "persist/direct_append.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "persist/io_errors.h"

namespace arbalest {

namespace {

int64_t AlignDown(int64_t n) { return n & ~(DirectAppender::kAlignment - 1); }
int64_t AlignUp(int64_t n) { return AlignDown(n + DirectAppender::kAlignment - 1); }

}  // namespace

arrow::Result<std::unique_ptr<DirectAppender>> DirectAppender::Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EINVAL) return nullptr;  // no direct I/O on this file system
    return IoErrorFromErrno(errno, "cannot create ", path);
  }
  const int buffered_fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (buffered_fd < 0) {
    const int open_errno = errno;
    ::close(fd);
    return IoErrorFromErrno(open_errno, "cannot open ", path);
  }
  void* staging = std::aligned_alloc(kAlignment, kStagingBytes);
  if (staging == nullptr) {
    ::close(fd);
    ::close(buffered_fd);
    return arrow::Status::OutOfMemory("cannot allocate the direct I/O staging buffer for ", path);
  }
  return std::unique_ptr<DirectAppender>(
      new DirectAppender(fd, buffered_fd, path, static_cast<uint8_t*>(staging)));
}

DirectAppender::DirectAppender(int fd, int buffered_fd, std::string path, uint8_t* staging)
    : fd_(fd), buffered_fd_(buffered_fd), path_(std::move(path)), staging_(staging) {}

DirectAppender::~DirectAppender() {
  ::close(fd_);
  ::close(buffered_fd_);
  std::free(staging_);
}

arrow::Status DirectAppender::WriteStaged(int64_t bytes, int64_t offset) {
  for (int64_t done = 0; done < bytes;) {
    const ssize_t n =
        ::pwrite(fd_, staging_ + done, static_cast<size_t>(bytes - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    // The kernel refuses a direct write it would have to cut short (a file-size limit,
    // RLIMIT_FSIZE) with EINVAL; written through the page cache, the write reports the cause.
    if (n < 0 && errno == EINVAL)
      return WriteBuffered(staging_ + done, bytes - done, offset + done);
    // A short direct write stops at the end of the space (or quota) left.
    if (n <= 0 || n % kAlignment != 0) {
      return IoErrorFromErrno(n < 0 ? errno : ENOSPC, "write to ", path_);
    }
    done += n;
  }
  return arrow::Status::OK();
}

arrow::Status DirectAppender::WriteBuffered(const uint8_t* data, int64_t bytes, int64_t offset) {
  for (int64_t done = 0; done < bytes;) {
    const ssize_t n =
        ::pwrite(buffered_fd_, data + done, static_cast<size_t>(bytes - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    // A short write goes on: the next one fails with the cause (ENOSPC, EFBIG).
    if (n <= 0) return IoErrorFromErrno(n < 0 ? errno : ENOSPC, "write to ", path_);
    done += n;
  }
  return arrow::Status::OK();
}

arrow::Status DirectAppender::Append(std::span<const iovec> parts, bool direct) {
  int64_t offset = AlignDown(size_);  // where staging_[0] goes: the last partial block's start
  int64_t fill = size_ - offset;      // that block's bytes, already at the front of staging_
  int64_t total = 0;
  for (const iovec& part : parts) total += static_cast<int64_t>(part.iov_len);
  if (!direct && fill + total <= kStagingBytes) {
    // Through the page cache; the staging buffer keeps the last partial block as ever.
    for (const iovec& part : parts) {
      std::memcpy(staging_ + fill, part.iov_base, part.iov_len);
      fill += static_cast<int64_t>(part.iov_len);
    }
    ARROW_RETURN_NOT_OK(WriteBuffered(staging_ + (size_ - offset), total, size_));
    size_ += total;
    std::memmove(staging_, staging_ + AlignDown(fill), static_cast<size_t>(size_ % kAlignment));
    return arrow::Status::OK();
  }
  for (const iovec& part : parts) {
    const auto* bytes = static_cast<const uint8_t*>(part.iov_base);
    for (size_t left = part.iov_len; left > 0;) {
      const size_t n = std::min(left, static_cast<size_t>(kStagingBytes - fill));
      std::memcpy(staging_ + fill, bytes, n);
      bytes += n;
      left -= n;
      fill += static_cast<int64_t>(n);
      if (fill == kStagingBytes) {
        ARROW_RETURN_NOT_OK(WriteStaged(kStagingBytes, offset));
        offset += kStagingBytes;
        fill = 0;
      }
    }
  }
  const int64_t end = offset + fill;
  if (fill > 0) {
    std::memset(staging_ + fill, 0, static_cast<size_t>(AlignUp(fill) - fill));
    ARROW_RETURN_NOT_OK(WriteStaged(AlignUp(fill), offset));
    // The written file ends with the zeros that padded its last block: cut them off.
    if (end % kAlignment != 0 && ::ftruncate(fd_, end) != 0) {
      return IoErrorFromErrno(errno, "cannot cut the padding off ", path_);
    }
    // The last partial block moves to the front, to be rewritten by the next append.
    std::memmove(staging_, staging_ + AlignDown(fill), static_cast<size_t>(end % kAlignment));
  }
  size_ = end;
  return arrow::Status::OK();
}

arrow::Status DirectAppender::Truncate(int64_t size) {
  if (size > size_) {
    return arrow::Status::Invalid("cannot extend ", path_, " from ", size_, " to ", size,
                                  " bytes by truncating it");
  }
  if (::ftruncate(fd_, size) != 0) return IoErrorFromErrno(errno, "cannot truncate ", path_);
  size_ = size;
  // Read back the new last partial block (a direct read: whole aligned blocks).
  const int64_t partial = size % kAlignment;
  if (partial == 0) return arrow::Status::OK();
  const ssize_t n = ::pread(fd_, staging_, kAlignment, AlignDown(size));
  if (n < partial) {
    return IoErrorFromErrno(n < 0 ? errno : EIO, "cannot read the last block of ", path_);
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
