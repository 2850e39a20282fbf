#include "persist/wal_reader.h"

#include <arrow/status.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "persist/crc32c.h"
#include "persist/wal_format.h"
#include "persist/wal_segments.h"

namespace arbalest {
namespace {

// Unwritten parts of a file read back as zeros in blocks of (at least) this size.
constexpr int64_t kBlockSize = 512;

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

bool AllZeros(const uint8_t* begin, const uint8_t* end) {
  return std::all_of(begin, end, [](uint8_t b) { return b == 0; });
}

bool AllZeros(int fd, int64_t from, int64_t to) {
  std::vector<uint8_t> chunk(1 << 16);
  while (from < to) {
    const int64_t size = std::min<int64_t>(to - from, static_cast<int64_t>(chunk.size()));
    if (::pread(fd, chunk.data(), static_cast<size_t>(size), from) != size) return false;
    if (!AllZeros(chunk.data(), chunk.data() + size)) return false;
    from += size;
  }
  return true;
}

// Whether `payload`, which starts at file offset `offset`, has a block from a kBlockSize-aligned
// file offset to the next one (or to its end) that is all zeros: what a write that never
// reached the disk leaves.
bool HasZeroBlock(const arrow::Buffer& payload, int64_t offset) {
  const int64_t end = offset + payload.size();
  for (int64_t block = (offset + kBlockSize - 1) / kBlockSize * kBlockSize; block < end;
       block += kBlockSize) {
    const uint8_t* begin = payload.data() + (block - offset);
    if (AllZeros(begin, payload.data() + (std::min(block + kBlockSize, end) - offset))) {
      return true;
    }
  }
  return false;
}

bool IsEmptyFile(const std::string& path) {
  std::error_code error;
  return std::filesystem::file_size(path, error) == 0 && !error;
}

std::string LsnRange(uint64_t first, std::optional<uint64_t> last) {
  if (!last) return "LSN " + std::to_string(first) + " on";
  if (*last == first) return "LSN " + std::to_string(first);
  return "LSNs " + std::to_string(first) + ".." + std::to_string(*last);
}

// Records [first, last] (last unset: to the end of the log) are not in the log; `where` says
// how that shows. An error, or with skip_corrupt a logged loss.
arrow::Status Missing(const WalReadOptions& options, WalReadResult* result, uint64_t first,
                      std::optional<uint64_t> last, std::string_view where) {
  const std::string range = LsnRange(first, last);
  if (!options.skip_corrupt) {
    return arrow::Status::IOError(
        "WAL incomplete: the records with ", range, " are missing: ", where,
        ". Restore the missing files, or start with --wal-skip-corrupt to go on without those "
        "records (what is lost is logged)");
  }
  ++result->gaps;
  spdlog::error("WAL incomplete: the records with {} are missing: {}; going on without them", range,
                where);
  return arrow::Status::OK();
}

// What is wrong at some offset of a segment.
enum class Damage {
  kTruncated,   // the record is cut short: a torn write, if in the last segment
  kBadHeader,   // nothing after this point in the segment can be trusted
  kBadPayload,  // the header is intact, so the next record can still be found
};

// Where reading resumes after damage.
enum class Resume { kNextRecord, kEndOfSegment };

// Reads one segment. `last` marks the segment the writer was appending to when it stopped
// (or one after it): only there can a crash leave a torn record.
class SegmentReader {
 public:
  SegmentReader(const WalSegment& segment, bool last, const WalReadOptions& options,
                WalReadResult* result)
      : segment_(segment),
        last_(last),
        options_(options),
        result_(result),
        next_lsn_(segment.first_lsn) {}

  arrow::Status Read(const WalVisitor& visit) {
    fd_ = ::open(segment_.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      return arrow::Status::IOError("WAL: cannot open ", segment_.path, ": ", std::strerror(errno));
    }
    arrow::Status status = ReadRecords(visit);
    ::close(fd_);
    return status;
  }

  // The LSN the log continues at after this segment: its seal's, else the one after its last
  // record (its name when it has none).
  uint64_t next_lsn() const { return next_lsn_; }
  bool sealed() const { return sealed_; }

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
    const uint64_t lsn = header->lsn;
    const int64_t end = offset + static_cast<int64_t>(kWalHeaderSize) + header->payload_length;
    if (end > size) {
      ARROW_ASSIGN_OR_RAISE(*resume,
                            Damaged(offset, size, Damage::kTruncated, "file ends inside a record"));
      return size;
    }
    if (sealed_ || lsn < next_lsn_ || lsn <= result_->last_lsn) {
      const std::string why = sealed_
                                  ? "a record after the segment's seal"
                                  : "record LSN " + std::to_string(lsn) + " where LSN " +
                                        std::to_string(std::max(next_lsn_, result_->last_lsn + 1)) +
                                        " or later was expected";
      ARROW_ASSIGN_OR_RAISE(*resume, Damaged(offset, size, Damage::kBadHeader, why));
      return size;
    }
    if (lsn > next_lsn_) {
      ARROW_RETURN_NOT_OK(Missing(options_, result_, next_lsn_, lsn - 1,
                                  segment_.path + " holds LSN " + std::to_string(lsn) +
                                      " at offset " + std::to_string(offset) + " where LSN " +
                                      std::to_string(next_lsn_) + " was expected"));
    }
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> payload,
                          arrow::AllocateBuffer(header->payload_length));
    ARROW_RETURN_NOT_OK(ReadExactly(fd_, payload->mutable_data(), header->payload_length,
                                    offset + kWalHeaderSize, segment_.path));
    if (Crc32c(0, payload->data(), header->payload_length) != header->payload_crc) {
      ARROW_ASSIGN_OR_RAISE(*resume, BadPayload(offset, end, size, lsn, *payload));
      return end;
    }
    auto seal = DecodeSeal(lsn, *payload);
    if (!seal.ok()) {
      ARROW_ASSIGN_OR_RAISE(*resume,
                            Damaged(offset, size, Damage::kBadHeader, seal.status().message()));
      return size;
    }
    if (seal->has_value()) {
      sealed_ = true;  // the next record, in the next segment, has the seal's LSN
      return end;
    }
    ARROW_RETURN_NOT_OK(visit(lsn, std::move(payload)));
    ++result_->records;
    Consumed(lsn);
    return end;
  }

  void Consumed(uint64_t lsn) {
    result_->last_lsn = lsn;
    next_lsn_ = lsn + 1;
  }

  // A record whose payload fails its checksum, [offset, end) in a file of `size` bytes. In the
  // last segment, when only zeros follow it, it is a torn write if it looks like one: some
  // aligned block of it reads as zeros. Otherwise data that was written was damaged.
  arrow::Result<Resume> BadPayload(int64_t offset, int64_t end, int64_t size, uint64_t lsn,
                                   const arrow::Buffer& payload) {
    const bool final_record = end == size || AllZeros(fd_, end, size);
    if (last_ && final_record && HasZeroBlock(payload, offset + kWalHeaderSize)) {
      return Damaged(offset, size, Damage::kTruncated,
                     "record payload checksum mismatch, with a block of zeros (an unwritten "
                     "block)");
    }
    auto resume = Damaged(offset, size, Damage::kBadPayload,
                          "record payload checksum mismatch (LSN " + std::to_string(lsn) +
                              (final_record ? "; the log's last record, whole and with no block "
                                              "of zeros: damage, not a torn write)"
                                            : ")"));
    if (resume.ok()) Consumed(lsn);  // skipped: its LSN is taken
    return resume;
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
  uint64_t next_lsn_;
  bool sealed_ = false;
  int fd_ = -1;
};

}  // namespace

arrow::Result<WalReadResult> ReadWal(const std::string& dir, const WalReadOptions& options,
                                     const WalVisitor& visit) {
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(dir));
  ARROW_ASSIGN_OR_RAISE(std::optional<uint64_t> log_start, ReadWalLogStart(dir));
  WalReadResult result;
  if (log_start && (segments.empty() || segments.front().first_lsn > *log_start)) {
    const std::string where = "the log starts at LSN " + std::to_string(*log_start) + " (" + dir +
                              "/" + std::string(kWalLogStartFile) + ") but ";
    if (segments.empty()) {
      ARROW_RETURN_NOT_OK(
          Missing(options, &result, *log_start, std::nullopt, where + "no segment is left"));
    } else {
      ARROW_RETURN_NOT_OK(Missing(options, &result, *log_start, segments.front().first_lsn - 1,
                                  where + "its first segment is " + segments.front().path));
    }
  }
  std::optional<uint64_t> next_lsn;  // where the segments read so far say the log continues
  bool sealed = false;
  // The segment the writer last wrote to: the last one, or one followed by empty segments only
  // (a crash between creating a segment and writing to it, while the one before was sealed).
  size_t last = segments.empty() ? 0 : segments.size() - 1;
  while (last > 0 && IsEmptyFile(segments[last].path)) --last;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (next_lsn && segments[i].first_lsn > *next_lsn) {
      ARROW_RETURN_NOT_OK(Missing(
          options, &result, *next_lsn, segments[i].first_lsn - 1,
          "no segment holds them between " + segments[i - 1].path + " and " + segments[i].path));
    }
    SegmentReader reader(segments[i], i >= last, options, &result);
    ARROW_RETURN_NOT_OK(reader.Read(visit));
    next_lsn = std::max(reader.next_lsn(), result.last_lsn + 1);
    sealed = reader.sealed();
  }
  if (sealed) {
    ARROW_RETURN_NOT_OK(Missing(options, &result, *next_lsn, std::nullopt,
                                segments.back().path +
                                    " ends with a seal saying that the log "
                                    "continues in " +
                                    WalSegmentName(*next_lsn) + ", which does not exist"));
  }
  result.next_lsn = std::max({next_lsn.value_or(1), log_start.value_or(1), result.last_lsn + 1});
  return result;
}

arrow::Result<bool> WalSegmentIsSealed(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return arrow::Status::IOError("WAL: cannot open ", path, ": ", std::strerror(errno));
  const int64_t size = ::lseek(fd, 0, SEEK_END);
  // Walk the headers to the last whole record.
  std::optional<WalHeader> last;
  int64_t last_offset = 0;
  arrow::Status status = arrow::Status::OK();
  for (int64_t offset = 0; size - offset >= static_cast<int64_t>(kWalHeaderSize);) {
    uint8_t bytes[kWalHeaderSize];
    status = ReadExactly(fd, bytes, kWalHeaderSize, offset, path);
    if (!status.ok()) break;
    auto header = DecodeHeader(bytes);
    if (!header.ok()) break;
    const int64_t end = offset + static_cast<int64_t>(kWalHeaderSize) + header->payload_length;
    if (end > size) break;
    last = *header;
    last_offset = offset;
    offset = end;
  }
  bool sealed = false;
  if (status.ok() && last) {
    std::vector<uint8_t> payload(last->payload_length);
    status = ReadExactly(fd, payload.data(), last->payload_length,
                         last_offset + static_cast<int64_t>(kWalHeaderSize), path);
    if (status.ok() && Crc32c(0, payload.data(), payload.size()) == last->payload_crc) {
      const arrow::Buffer buffer(payload.data(), static_cast<int64_t>(payload.size()));
      auto seal = DecodeSeal(last->lsn, buffer);
      sealed = seal.ok() && seal->has_value();
    }
  }
  ::close(fd);
  ARROW_RETURN_NOT_OK(status);
  return sealed;
}

}  // namespace arbalest
