// Appending to a file with direct I/O (O_DIRECT): bytes go from an aligned staging buffer to the
// device without the kernel's copy into the page cache. Profiles of the put path showed that
// copy (the WAL writer's write() into the page cache, `copy_folio_from_iter_atomic`) costing
// 0.5-2 CPU seconds per GB once a few GB of dirty pages pile up; a direct write costs the one
// copy into the staging buffer (about 0.1 s per GB) and the device's DMA.
//
// Direct I/O writes whole aligned blocks at aligned offsets. The appender keeps the file's last
// partial block in memory and rewrites it, with the same bytes in front, when more bytes follow;
// after each append it truncates the file to the exact length written, so the file holds the
// same bytes as a buffered append would have left (the WAL's format and readers are unchanged).
// Rewriting a block whose prefix is unchanged cannot damage that prefix, even if the write is
// torn: each sector holds either its old or its new bytes, and the prefix is the same in both.
//
// Small appends may go through the page cache instead (a second descriptor without O_DIRECT):
// a direct write waits for the device, which costs a put of a few rows more than the copy it
// saves. The kernel keeps the two coherent (a direct write or read flushes and drops the cached
// pages it overlaps).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace arbalest {

// Not thread-safe: owned by one writer.
class DirectAppender {
 public:
  // The alignment of direct writes: 4096 bytes suits devices with 512-byte and 4 KiB sectors.
  static constexpr int64_t kAlignment = 4096;
  // The staging buffer: appends larger than this are written in pieces of this size (the
  // device took 1 MiB direct writes as fast as 8 or 32 MiB ones, about 1.5 GB/s, here).
  static constexpr int64_t kStagingBytes = int64_t{2} << 20;

  // Opens `path` for direct appends, creating or truncating it (mode 0644). Returns null, not
  // an error, when the file system does not do direct I/O (tmpfs answers EINVAL): the caller
  // then writes through the page cache. IOError for other failures.
  static arrow::Result<std::unique_ptr<DirectAppender>> Create(const std::string& path);

  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  // The file's descriptor (for fdatasync) and its length.
  int fd() const { return fd_; }
  int64_t size() const { return size_; }

  // Appends the bytes of `parts` in order, with direct I/O or, when `direct` is false and they
  // fit in the staging buffer, through the page cache. On failure the file may hold part of
  // them: the caller cuts it back with Truncate. The status carries the errno (io_errors.h).
  arrow::Status Append(std::span<const iovec> parts, bool direct = true);

  // Cuts the file back to `size` bytes (at most size()), e.g. to drop a failed append.
  arrow::Status Truncate(int64_t size);

 private:
  DirectAppender(int fd, int buffered_fd, std::string path, uint8_t* staging);
  // Writes staging_[0, bytes) (a multiple of kAlignment) at `offset`.
  arrow::Status WriteStaged(int64_t bytes, int64_t offset);
  // Writes data[0, bytes) at `offset` through the page cache (buffered_fd_).
  arrow::Status WriteBuffered(const uint8_t* data, int64_t bytes, int64_t offset);

  const int fd_;           // O_DIRECT
  const int buffered_fd_;  // the same file, through the page cache
  const std::string path_;
  uint8_t* const staging_;  // kStagingBytes, aligned; starts with the file's last partial block
  int64_t size_ = 0;
};

}  // namespace arbalest
