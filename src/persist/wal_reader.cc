#include "persist/wal_reader.h"

#include <arrow/status.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "persist/crc32c.h"
#include "persist/wal_format.h"
#include "persist/wal_segments.h"

namespace arbalest {
namespace {

arrow::Status ReadExactly(int fd, uint8_t* out, int64_t size, int64_t offset,
                          const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, static_cast<size_t>(size), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return arrow::Status::IOError("WAL: cannot read ", path, " at offset ", offset, ": ",
                                    n < 0 ? std::strerror(errno) : "unexpected end of file");
    }
    out += n;
    size -= n;
    offset += n;
  }
  return arrow::Status::OK();
}

bool AllZeros(int fd, int64_t from, int64_t to) {
  std::vector<uint8_t> chunk(1 << 16);
  while (from < to) {
    const int64_t size = std::min<int64_t>(to - from, static_cast<int64_t>(chunk.size()));
    if (::pread(fd, chunk.data(), static_cast<size_t>(size), from) != size) return false;
    if (std::any_of(chunk.begin(), chunk.begin() + size, [](uint8_t b) { return b != 0; })) {
      return false;
    }
    from += size;
  }
  return true;
}

// What is wrong at some offset of a segment.
enum class Damage {
  kTruncated,   // the record is cut short: a torn write, if in the last segment
  kBadHeader,   // nothing after this point in the segment can be trusted
  kBadPayload,  // the header is intact, so the next record can still be found
};

// Where reading resumes after damage.
enum class Resume { kNextRecord, kEndOfSegment };

// Reads one segment. `last` marks the segment the writer was appending to when it stopped:
// only there can a crash leave a torn record.
class SegmentReader {
 public:
  SegmentReader(const WalSegment& segment, bool last, const WalReadOptions& options,
                WalReadResult* result)
      : segment_(segment), last_(last), options_(options), result_(result) {}

  arrow::Status Read(const WalVisitor& visit) {
    fd_ = ::open(segment_.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      return arrow::Status::IOError("WAL: cannot open ", segment_.path, ": ", std::strerror(errno));
    }
    arrow::Status status = ReadRecords(visit);
    ::close(fd_);
    return status;
  }

 private:
  arrow::Status ReadRecords(const WalVisitor& visit) {
    const int64_t size = ::lseek(fd_, 0, SEEK_END);
    int64_t offset = 0;
    while (offset < size) {
      Resume resume = Resume::kNextRecord;
      int64_t end = size;
      if (size - offset < static_cast<int64_t>(kWalHeaderSize)) {
        ARROW_ASSIGN_OR_RAISE(
            resume, Damaged(offset, size, Damage::kTruncated, "file ends inside a record header"));
      } else {
        ARROW_ASSIGN_OR_RAISE(end, ReadRecord(offset, size, visit, &resume));
      }
      if (resume == Resume::kEndOfSegment) break;
      offset = end;
    }
    return arrow::Status::OK();
  }

  // Reads the record at `offset` and returns the offset after it.
  arrow::Result<int64_t> ReadRecord(int64_t offset, int64_t size, const WalVisitor& visit,
                                    Resume* resume) {
    uint8_t header_bytes[kWalHeaderSize];
    ARROW_RETURN_NOT_OK(ReadExactly(fd_, header_bytes, kWalHeaderSize, offset, segment_.path));
    auto header = DecodeHeader(header_bytes);
    if (!header.ok()) {
      const bool zeros = AllZeros(fd_, offset, size);
      ARROW_ASSIGN_OR_RAISE(
          *resume,
          Damaged(offset, size, zeros ? Damage::kTruncated : Damage::kBadHeader,
                  zeros ? "zeros after the last record" : "record header checksum mismatch"));
      return size;
    }
    const int64_t end = offset + static_cast<int64_t>(kWalHeaderSize) + header->payload_length;
    if (end > size) {
      ARROW_ASSIGN_OR_RAISE(*resume,
                            Damaged(offset, size, Damage::kTruncated, "file ends inside a record"));
      return size;
    }
    if (header->lsn <= result_->last_lsn) {
      ARROW_ASSIGN_OR_RAISE(*resume,
                            Damaged(offset, size, Damage::kBadHeader, "LSN goes backwards"));
      return size;
    }
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> payload,
                          arrow::AllocateBuffer(header->payload_length));
    ARROW_RETURN_NOT_OK(ReadExactly(fd_, payload->mutable_data(), header->payload_length,
                                    offset + kWalHeaderSize, segment_.path));
    if (Crc32c(0, payload->data(), header->payload_length) != header->payload_crc) {
      // A bad checksum on the very last record of the log is a torn write of its payload.
      const Damage damage = end == size ? Damage::kTruncated : Damage::kBadPayload;
      ARROW_ASSIGN_OR_RAISE(*resume,
                            Damaged(offset, size, damage, "record payload checksum mismatch"));
      return end;
    }
    ARROW_RETURN_NOT_OK(visit(header->lsn, std::move(payload)));
    ++result_->records;
    result_->last_lsn = header->lsn;
    return end;
  }

  // A torn tail of the last segment is cut off; other damage is an error or, with
  // skip_corrupt, a warning.
  arrow::Result<Resume> Damaged(int64_t offset, int64_t size, Damage damage, std::string_view why) {
    if (damage == Damage::kTruncated && last_) {
      spdlog::warn("WAL: {} at offset {} of {}: truncating {} bytes of a torn final record", why,
                   offset, segment_.path, size - offset);
      if (::ftruncate(fd_, offset) != 0 || ::fdatasync(fd_) != 0) {
        return arrow::Status::IOError("WAL: cannot truncate ", segment_.path, ": ",
                                      std::strerror(errno));
      }
      result_->truncated_bytes += size - offset;
      return Resume::kEndOfSegment;
    }
    if (!options_.skip_corrupt) {
      return arrow::Status::IOError(
          "WAL corrupt: ", segment_.path, " at offset ", offset, ": ", why,
          ". Restore the file, or start with --wal-skip-corrupt to skip the damaged records "
          "(their rows are lost)");
    }
    ++result_->skipped_corrupt;
    const bool skip_record = damage == Damage::kBadPayload;
    spdlog::error("WAL corrupt: {} at offset {}: {}; skipping {}", segment_.path, offset, why,
                  skip_record ? "the record" : "the rest of the segment");
    return skip_record ? Resume::kNextRecord : Resume::kEndOfSegment;
  }

  const WalSegment& segment_;
  const bool last_;
  const WalReadOptions& options_;
  WalReadResult* result_;
  int fd_ = -1;
};

}  // namespace

arrow::Result<WalReadResult> ReadWal(const std::string& dir, const WalReadOptions& options,
                                     const WalVisitor& visit) {
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(dir));
  WalReadResult result;
  for (size_t i = 0; i < segments.size(); ++i) {
    SegmentReader reader(segments[i], i + 1 == segments.size(), options, &result);
    ARROW_RETURN_NOT_OK(reader.Read(visit));
  }
  return result;
}

}  // namespace arbalest
