// The on-disk format of the write-ahead log.
//
// The log is a directory of segment files named by the LSN of their first record
// (00000000000000000001.wal, ...), plus LOG_START (wal_segments.h). A segment is a sequence of
// records:
//
//   header (24 bytes, little-endian)                  payload (payload_length bytes)
//   +------------+--------+-----+---------+----------+----------------------------------------+
//   | header_crc | length | lsn | pay_crc | reserved | type u8 | name_len u16 | name | body   |
//   |   u32      |  u32   | u64 |   u32   | u32 (0)  +----------------------------------------+
//   +------------+--------+-----+---------+----------+
//
// header_crc covers the 20 bytes after it; pay_crc covers the payload. Two checksums let a
// reader tell a torn or corrupt payload (header intact: the record can be skipped) from a
// corrupt header (nothing after it in the segment can be trusted). Records are
// self-contained: the body of an append is an Arrow IPC stream (schema + one batch), so replay
// needs no other state beyond the records before it.
//
// LSN continuity: LSNs start at 1 and increase by exactly one per record, across segments: a
// segment's first record has the LSN of its name, which follows the previous segment's last
// record (a write that failed is cut off the file and its LSNs are given again). So a reader
// can name any LSN missing from the log. Every segment but the last ends with a seal: a record
// whose header carries the LSN the log continues at (the next segment's name, whose first
// record has that LSN too: a seal takes no LSN of its own) and whose payload says so again.
// A last segment that is sealed means the segment after it is missing. Logs written before
// seals lack them; they still read.
//
// Payload types (the first payload byte):
//   1  create dataset  body: IPC stream of the schema the dataset was created from
//   3  drop dataset    body: empty
//   6  seal            name empty; body: u64 LSN the log continues at (= the header's)
//   7  append          body: i64 row count | IPC stream of one conformed batch, as stored
//   8  delete          body: i64 row count | deleted row numbers (portable Roaring bitmap)
//   9  compact         body: i64 row count | dropped row numbers (portable Roaring bitmap)
//  10  row count       body: i64 row count
//  11  upsert          body: i64 row count | u64 L | replaced row numbers (portable Roaring
//                      bitmap, L bytes) | IPC stream of one conformed batch, as stored
// An upsert (a put into a dataset whose ids are unique) is an append and a delete in one record,
// so that replay applies both or neither: the batch's rows take the next row numbers, and the
// replaced rows (rows of the dataset or of the batch itself, a repeated id's earlier rows) are
// deleted with them.
//  12  append v2       body: u64 key of its first row | IPC stream of one conformed batch
//  13  delete v2       body: deleted row keys (portable Roaring bitmap)
//  14  upsert v2       body: u64 key of its first row | u64 L | replaced row keys (portable
//                      Roaring bitmap, L bytes) | IPC stream of one conformed batch
//  15  rekey           body: u64 the dataset's next key | retired row keys (portable Roaring
//                      bitmap): the keys are renumbered densely from here on (see kRekey)
// Versions 2 (12 to 15) name rows by row key (store/row_keys.h: the row's number had no
// compaction dropped a row) instead of by row number: compactions do not change them, so a
// log of them needs no compaction records and no row counts (a gap in the keys is what a lost
// append leaves). The server writes only these; versions 1 (7, 8, 9, 11 and 10) still replay,
// in the row numbering of the records before them.
//  20  create namespace  name: the namespace; body: empty
//  21  drop namespace    name: the namespace; body: u32 count | count x (u16 length | dataset
//                        name): the datasets the drop drops with it, all in this one record
//  22  edges           body: IPC stream of one batch of graph edges (subject int64, predicate
//                      utf8, object int64, weight float32), as checked when logged
// where "row count" is the dataset's stored row count when the record was logged, in the
// numbering of the records before it (for an append: the row number of its first row). Logs
// written before row counts have appends, deletes and compactions as types 2, 4 and 5: the
// same without the i64; they still decode (WalEntry::logged_rows unset). A log written by this
// version cannot be read by earlier ones (they refuse the unknown types).
#pragma once

#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <roaring/roaring.hh>
#include <string>
#include <string_view>
#include <vector>

namespace arbalest {

inline constexpr size_t kWalHeaderSize = 24;
inline constexpr std::string_view kWalSegmentSuffix = ".wal";

// The kinds of records replay applies (a seal is read by the reader alone).
enum class WalRecordType : uint8_t {
  kCreateDataset,
  kAppend,
  kDropDataset,
  // The deleted dataset row numbers (rows numbered across the dataset's appends in log order),
  // or in a record of version 2 (WalEntry::keyed) their row keys.
  // Row numbers rather than ids: the rows an id resolves to depend only on the appends logged
  // before the record, so replay is deterministic without re-running the id lookup (a scan of
  // the whole id column) per record.
  kDelete,
  // The dropped row numbers, as for kDelete: every one of them deleted by earlier records.
  // Logged by builds before row keys only (and by test logs of row numbers): compactions do
  // not change row keys, so a log of records of version 2 needs none.
  // Replay compacts the dataset at this point of the log, as the live server did: the dropped
  // rows go, and the others are renumbered densely in order (row r becomes r minus the dropped
  // rows below it), so later records' row numbers mean the same rows again.
  kCompact,
  // The dataset's row count alone: logged by a start that lost rows of the dataset
  // (--wal-skip-corrupt), so that a later replay, which loses them again, knows that the
  // records after it number the rows as replay does.
  kRowCount,
  // An append and the rows it replaces (a put into a dataset whose ids are unique, or a batch of
  // an adopted segment with its own rows deleted at adoption): the batch's rows take the next
  // row numbers, then `rows` (row numbers as for kDelete, counting the batch's own rows,
  // numbered from the record's row count) are deleted, in one step; the batch's own rows among
  // them take no entry in an id map (store/id_row_map.h).
  kUpsert,
  // A namespace created (WalEntry::dataset holds its name).
  kCreateNamespace = 8,
  // A namespace dropped with the datasets in WalEntry::datasets, in one record: a crash keeps
  // all of the drop or none of it.
  kDropNamespace = 9,
  // Graph edges added to a dataset (WalEntry::batch: graph/edge_batch.h's schema).
  kEdges = 10,
  // The dataset's row keys renumbered (a record of version 2, store/dataset_compaction.h): the
  // keys in `rows` (all the keys gone when it was logged, WalEntry::first_key the next key)
  // are retired, and every later key k names the row that key k + (retired keys below it)
  // named before. Rows replay still has under a retired key (a compaction the live server made
  // and did not log) were deleted by earlier records; replay drops them here.
  kRekey = 11,
};

// A decoded record.
struct WalEntry {
  uint64_t lsn = 0;
  WalRecordType type = WalRecordType::kAppend;
  std::string dataset;
  std::shared_ptr<arrow::Schema> schema;      // kCreateDataset
  std::shared_ptr<arrow::RecordBatch> batch;  // kAppend, kUpsert
  Roaring rows;                               // kDelete, kCompact, kUpsert (the replaced rows)
  // kAppend, kDelete, kCompact, kRowCount, kUpsert: the dataset's row count when the record was
  // logged (an append's first row number). Unset in appends, deletes and compactions logged before
  // row counts were.
  std::optional<int64_t> logged_rows;
  std::vector<std::string> datasets;  // kDropNamespace: the datasets dropped with it
  // Records of version 2 (an append, delete, upsert or rekey): `rows` holds row keys, not row
  // numbers, and an append's or upsert's first row takes key `first_key` (a rekey's: the
  // dataset's next key when it was logged).
  bool keyed = false;
  uint64_t first_key = 0;
};

// A record's payload as a list of buffers whose concatenation is the payload: an append refers
// to the batch's own column buffers instead of copying them.
struct WalPayload {
  std::vector<std::shared_ptr<arrow::Buffer>> parts;
  int64_t size() const;
  // The payload in one buffer (copies unless it is one part already).
  arrow::Result<std::shared_ptr<arrow::Buffer>> Contiguous() const;
};

// Payload encoders: what WalWriter::Enqueue logs. `logged_rows`: see WalEntry.
arrow::Result<WalPayload> EncodeCreateDataset(std::string_view dataset,
                                              const std::shared_ptr<arrow::Schema>& schema);
arrow::Result<WalPayload> EncodeAppend(std::string_view dataset, const arrow::RecordBatch& batch,
                                       int64_t logged_rows);
arrow::Result<WalPayload> EncodeUpsert(std::string_view dataset, const arrow::RecordBatch& batch,
                                       const Roaring& replaced, int64_t logged_rows);
arrow::Result<WalPayload> EncodeDropDataset(std::string_view dataset);
arrow::Result<WalPayload> EncodeDelete(std::string_view dataset, const Roaring& rows,
                                       int64_t logged_rows);
arrow::Result<WalPayload> EncodeCompact(std::string_view dataset, const Roaring& dropped,
                                        int64_t logged_rows);
arrow::Result<WalPayload> EncodeRowCount(std::string_view dataset, int64_t logged_rows);
// Records of version 2, naming rows by key (see WalEntry::keyed).
arrow::Result<WalPayload> EncodeKeyedAppend(std::string_view dataset,
                                            const arrow::RecordBatch& batch, uint64_t first_key);
arrow::Result<WalPayload> EncodeKeyedUpsert(std::string_view dataset,
                                            const arrow::RecordBatch& batch,
                                            const Roaring& replaced_keys, uint64_t first_key);
arrow::Result<WalPayload> EncodeKeyedDelete(std::string_view dataset, const Roaring& keys);
arrow::Result<WalPayload> EncodeRekey(std::string_view dataset, const Roaring& retired_keys,
                                      uint64_t next_key);
arrow::Result<WalPayload> EncodeCreateNamespace(std::string_view name);
arrow::Result<WalPayload> EncodeDropNamespace(std::string_view name,
                                              const std::vector<std::string>& datasets);
arrow::Result<WalPayload> EncodeEdges(std::string_view dataset, const arrow::RecordBatch& edges);
// A seal: the log continues at `next_lsn`, in the segment of that name. Log it with that LSN.
WalPayload EncodeSeal(uint64_t next_lsn);

// Decodes a payload read back from the log. Invalid when it is malformed (or a seal).
arrow::Result<WalEntry> DecodePayload(uint64_t lsn, std::shared_ptr<arrow::Buffer> payload);

// The LSN a seal read back as record `lsn` continues at; nullopt when `payload` is not a
// seal. Invalid when it is a malformed seal.
arrow::Result<std::optional<uint64_t>> DecodeSeal(uint64_t lsn, const arrow::Buffer& payload);

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
