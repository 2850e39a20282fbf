// The on-disk format of the write-ahead log.
//
// The log is a directory of segment files named by the LSN of their first record
// (00000000000000000001.wal, ...). A segment is a sequence of records:
//
//   header (24 bytes, little-endian)        payload (payload_length bytes)
//   +------------+--------+-----+---------+----------------------------------------+
//   | header_crc | length | lsn | pay_crc | type u8 | name_len u16 | name | body   |
//   |   u32      |  u32   | u64 |   u32   +----------------------------------------+
//   +------------+--------+-----+---------+
//
// header_crc covers the 20 bytes after it; pay_crc covers the payload. Two checksums let a
// reader tell a torn or corrupt payload (header intact: the record can be skipped) from a
// corrupt header (nothing after it in the segment can be trusted). LSNs start at 1 and
// increase by one per record across segments. Records are self-contained: the body of an
// append is an Arrow IPC stream (schema + one batch), so replay needs no other state beyond
// the records before it.
#pragma once

#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <string>
#include <string_view>
#include <vector>

namespace arbalest {

inline constexpr size_t kWalHeaderSize = 24;
inline constexpr std::string_view kWalSegmentSuffix = ".wal";

enum class WalRecordType : uint8_t {
  kCreateDataset = 1,  // body: IPC stream of the schema the dataset was created from
  kAppend = 2,         // body: IPC stream of one conformed batch, as stored
  kDropDataset = 3,    // body: empty
  // body: the deleted dataset row numbers (rows numbered across the dataset's appends in log
  // order), a Roaring bitmap in its portable serialization. Row numbers rather than ids: the
  // rows an id resolves to depend only on the appends logged before the record, so replay is
  // deterministic without re-running the id lookup (a scan of the whole id column) per record.
  kDelete = 4,
  // body: the dropped row numbers, as for kDelete: every one of them deleted by earlier
  // records. Replay compacts the dataset at this point of the log, as the live server did:
  // the dropped rows go, and the others are renumbered densely in order (row r becomes r minus
  // the dropped rows below it), so later records' row numbers mean the same rows again.
  kCompact = 5,
};

// A decoded record.
struct WalEntry {
  uint64_t lsn = 0;
  WalRecordType type = WalRecordType::kAppend;
  std::string dataset;
  std::shared_ptr<arrow::Schema> schema;      // kCreateDataset
  std::shared_ptr<arrow::RecordBatch> batch;  // kAppend
  Roaring rows;                               // kDelete, kCompact
};

// A record's payload as a list of buffers whose concatenation is the payload: an append refers
// to the batch's own column buffers instead of copying them.
struct WalPayload {
  std::vector<std::shared_ptr<arrow::Buffer>> parts;
  int64_t size() const;
  // The payload in one buffer (copies unless it is one part already).
  arrow::Result<std::shared_ptr<arrow::Buffer>> Contiguous() const;
};

// Payload encoders: what WalWriter::Enqueue logs.
arrow::Result<WalPayload> EncodeCreateDataset(std::string_view dataset,
                                              const std::shared_ptr<arrow::Schema>& schema);
arrow::Result<WalPayload> EncodeAppend(std::string_view dataset, const arrow::RecordBatch& batch);
arrow::Result<WalPayload> EncodeDropDataset(std::string_view dataset);
arrow::Result<WalPayload> EncodeDelete(std::string_view dataset, const Roaring& rows);
arrow::Result<WalPayload> EncodeCompact(std::string_view dataset, const Roaring& dropped);

// Decodes a payload read back from the log. Invalid when it is malformed.
arrow::Result<WalEntry> DecodePayload(uint64_t lsn, std::shared_ptr<arrow::Buffer> payload);

// The header of a record with `lsn` and `payload`.
std::array<uint8_t, kWalHeaderSize> EncodeHeader(uint64_t lsn, uint32_t payload_length,
                                                 uint32_t payload_crc);

struct WalHeader {
  uint32_t payload_length = 0;
  uint64_t lsn = 0;
  uint32_t payload_crc = 0;
};

// Parses a header; Invalid when its checksum does not match.
arrow::Result<WalHeader> DecodeHeader(const uint8_t* bytes);

// Segment file name for a segment whose first record has `first_lsn`.
std::string WalSegmentName(uint64_t first_lsn);

}  // namespace arbalest
