#include "persist/wal_format.h"

#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/status.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "persist/buffer_list_stream.h"
#include "persist/crc32c.h"
#include "persist/row_bitmap.h"

namespace arbalest {
namespace {

template <typename T>
void Put(uint8_t* out, T value) {
  std::memcpy(out, &value, sizeof(T));  // the project targets little-endian machines
}

template <typename T>
T Get(const uint8_t* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

// Payload type codes: wal_format.h lists them.
enum PayloadCode : uint8_t {
  kCreateCode = 1,
  kLegacyAppendCode = 2,  // logged before row counts
  kDropCode = 3,
  kLegacyDeleteCode = 4,
  kLegacyCompactCode = 5,
  kSealCode = 6,
  kAppendCode = 7,
  kDeleteCode = 8,
  kCompactCode = 9,
  kRowCountCode = 10,
  kUpsertCode = 11,
  kKeyedAppendCode = 12,
  kKeyedDeleteCode = 13,
  kKeyedUpsertCode = 14,
  kRekeyCode = 15,
  kCreateNamespaceCode = 20,
  kDropNamespaceCode = 21,
  kEdgesCode = 22,
};

constexpr size_t kPrefixSize = 3;  // type u8 | name_len u16

// type u8 | name_len u16 | name | [logged_rows i64] | body, where body is what `write_body`
// writes.
template <typename WriteBody>
arrow::Result<WalPayload> EncodePayload(PayloadCode code, std::string_view dataset,
                                        std::optional<int64_t> logged_rows, WriteBody write_body) {
  auto stream = std::make_shared<BufferListOutputStream>();
  std::array<uint8_t, kPrefixSize> prefix{};
  prefix[0] = code;
  Put<uint16_t>(prefix.data() + 1, static_cast<uint16_t>(dataset.size()));
  ARROW_RETURN_NOT_OK(stream->Write(prefix.data(), prefix.size()));
  ARROW_RETURN_NOT_OK(stream->Write(dataset.data(), static_cast<int64_t>(dataset.size())));
  if (logged_rows) {
    std::array<uint8_t, sizeof(int64_t)> count{};
    Put<int64_t>(count.data(), *logged_rows);
    ARROW_RETURN_NOT_OK(stream->Write(count.data(), count.size()));
  }
  ARROW_RETURN_NOT_OK(write_body(stream));
  return WalPayload{stream->Finish()};
}

// A record whose body is a row bitmap in Roaring's portable serialization.
arrow::Result<WalPayload> EncodeRows(PayloadCode code, std::string_view dataset,
                                     const Roaring& rows, std::optional<int64_t> logged_rows) {
  return EncodePayload(code, dataset, logged_rows, [&](auto& stream) {
    std::string body(rows.getSizeInBytes(/*portable=*/true), '\0');
    rows.write(body.data(), /*portable=*/true);
    return stream->Write(body.data(), static_cast<int64_t>(body.size()));
  });
}

// Decodes the body of a row record (from `body`, `size` bytes) into entry->rows.
arrow::Status DecodeRows(const uint8_t* body, size_t size, WalEntry* entry) {
  ARROW_ASSIGN_OR_RAISE(entry->rows,
                        ReadRowBitmap(std::string_view(reinterpret_cast<const char*>(body), size)));
  return arrow::Status::OK();
}

// Writes `batch` as an IPC stream (schema + the batch) to `stream`.
template <typename Stream>
arrow::Status WriteBatch(Stream& stream, const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(stream, batch.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(batch));
  return writer->Close();
}

arrow::Status DecodeIpc(std::shared_ptr<arrow::Buffer> body, WalEntry* entry);

// Decodes an upsert's body: the replaced rows' bitmap (u64 length first), then the batch.
arrow::Status DecodeUpsert(const std::shared_ptr<arrow::Buffer>& body, WalEntry* entry) {
  if (body->size() < static_cast<int64_t>(sizeof(uint64_t))) {
    return arrow::Status::Invalid("replaced rows' length past its end");
  }
  const auto length = Get<uint64_t>(body->data());
  if (length > static_cast<uint64_t>(body->size()) - sizeof(uint64_t)) {
    return arrow::Status::Invalid("replaced rows past its end");
  }
  ARROW_RETURN_NOT_OK(DecodeRows(body->data() + sizeof(uint64_t), length, entry));
  return DecodeIpc(arrow::SliceBuffer(body, static_cast<int64_t>(sizeof(uint64_t) + length)),
                   entry);
}

arrow::Status DecodeIpc(std::shared_ptr<arrow::Buffer> body, WalEntry* entry) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(body));
  // The stream starts after the record's prefix and dataset name, so its buffers are as
  // misaligned as that: Arrow copies those whose type needs alignment (reading an int64 column
  // in place would be undefined behaviour).
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input, options);
  if (!reader.ok()) return arrow::Status::Invalid(reader.status().message());
  entry->schema = (*reader)->schema();
  if (entry->type == WalRecordType::kAppend || entry->type == WalRecordType::kUpsert ||
      entry->type == WalRecordType::kEdges) {
    auto batch = (*reader)->Next();
    if (!batch.ok() || *batch == nullptr) {
      return arrow::Status::Invalid("append without a record batch");
    }
    // The log holds what ingest validated, but a record is read as it is on disk.
    ARROW_RETURN_NOT_OK((*batch)->ValidateFull());
    entry->batch = std::move(*batch);
  }
  return arrow::Status::OK();
}

// The body of a namespace drop: u32 count | count x (u16 length | name).
arrow::Status DecodeDatasetList(const uint8_t* body, size_t size, WalEntry* entry) {
  if (size < sizeof(uint32_t)) return arrow::Status::Invalid("dataset count past its end");
  const auto count = Get<uint32_t>(body);
  size_t at = sizeof(uint32_t);
  for (uint32_t i = 0; i < count; ++i) {
    if (size - at < sizeof(uint16_t)) return arrow::Status::Invalid("dataset name past its end");
    const auto length = Get<uint16_t>(body + at);
    at += sizeof(uint16_t);
    if (size - at < length) return arrow::Status::Invalid("dataset name past its end");
    entry->datasets.emplace_back(reinterpret_cast<const char*>(body + at), length);
    at += length;
  }
  if (at != size) return arrow::Status::Invalid("bytes after the dataset names");
  return arrow::Status::OK();
}

}  // namespace

int64_t WalPayload::size() const {
  int64_t total = 0;
  for (const auto& part : parts) total += part->size();
  return total;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> WalPayload::Contiguous() const {
  if (parts.size() == 1) return parts.front();
  return arrow::ConcatenateBuffers(parts);
}

arrow::Result<WalPayload> EncodeCreateDataset(std::string_view dataset,
                                              const std::shared_ptr<arrow::Schema>& schema) {
  return EncodePayload(kCreateCode, dataset, std::nullopt, [&](auto& stream) {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(stream, schema));
    return writer->Close();
  });
}

arrow::Result<WalPayload> EncodeAppend(std::string_view dataset, const arrow::RecordBatch& batch,
                                       int64_t logged_rows) {
  return EncodePayload(kAppendCode, dataset, logged_rows,
                       [&](auto& stream) { return WriteBatch(stream, batch); });
}

namespace {

// An upsert of either version: `count` is its row count (version 1) or first key (version 2).
arrow::Result<WalPayload> EncodeUpsertOf(PayloadCode code, std::string_view dataset,
                                         const arrow::RecordBatch& batch, const Roaring& replaced,
                                         int64_t count) {
  return EncodePayload(code, dataset, count, [&](auto& stream) {
    const size_t length = replaced.getSizeInBytes(/*portable=*/true);
    std::string rows(sizeof(uint64_t) + length, '\0');
    Put<uint64_t>(reinterpret_cast<uint8_t*>(rows.data()), length);
    replaced.write(rows.data() + sizeof(uint64_t), /*portable=*/true);
    ARROW_RETURN_NOT_OK(stream->Write(rows.data(), static_cast<int64_t>(rows.size())));
    return WriteBatch(stream, batch);
  });
}

}  // namespace

arrow::Result<WalPayload> EncodeUpsert(std::string_view dataset, const arrow::RecordBatch& batch,
                                       const Roaring& replaced, int64_t logged_rows) {
  return EncodeUpsertOf(kUpsertCode, dataset, batch, replaced, logged_rows);
}

arrow::Result<WalPayload> EncodeKeyedUpsert(std::string_view dataset,
                                            const arrow::RecordBatch& batch,
                                            const Roaring& replaced_keys, uint64_t first_key) {
  return EncodeUpsertOf(kKeyedUpsertCode, dataset, batch, replaced_keys,
                        static_cast<int64_t>(first_key));
}

arrow::Result<WalPayload> EncodeKeyedAppend(std::string_view dataset,
                                            const arrow::RecordBatch& batch, uint64_t first_key) {
  return EncodePayload(kKeyedAppendCode, dataset, static_cast<int64_t>(first_key),
                       [&](auto& stream) { return WriteBatch(stream, batch); });
}

arrow::Result<WalPayload> EncodeKeyedDelete(std::string_view dataset, const Roaring& keys) {
  return EncodeRows(kKeyedDeleteCode, dataset, keys, std::nullopt);
}

arrow::Result<WalPayload> EncodeRekey(std::string_view dataset, const Roaring& retired_keys,
                                      uint64_t next_key) {
  return EncodeRows(kRekeyCode, dataset, retired_keys, static_cast<int64_t>(next_key));
}

arrow::Result<WalPayload> EncodeDropDataset(std::string_view dataset) {
  return EncodePayload(kDropCode, dataset, std::nullopt, [](auto&) { return arrow::Status::OK(); });
}

arrow::Result<WalPayload> EncodeDelete(std::string_view dataset, const Roaring& rows,
                                       int64_t logged_rows) {
  return EncodeRows(kDeleteCode, dataset, rows, logged_rows);
}

arrow::Result<WalPayload> EncodeCompact(std::string_view dataset, const Roaring& dropped,
                                        int64_t logged_rows) {
  return EncodeRows(kCompactCode, dataset, dropped, logged_rows);
}

arrow::Result<WalPayload> EncodeRowCount(std::string_view dataset, int64_t logged_rows) {
  return EncodePayload(kRowCountCode, dataset, logged_rows,
                       [](auto&) { return arrow::Status::OK(); });
}

arrow::Result<WalPayload> EncodeCreateNamespace(std::string_view name) {
  return EncodePayload(kCreateNamespaceCode, name, std::nullopt,
                       [](auto&) { return arrow::Status::OK(); });
}

arrow::Result<WalPayload> EncodeDropNamespace(std::string_view name,
                                              const std::vector<std::string>& datasets) {
  return EncodePayload(kDropNamespaceCode, name, std::nullopt, [&](auto& stream) {
    std::string body(sizeof(uint32_t), '\0');
    Put<uint32_t>(reinterpret_cast<uint8_t*>(body.data()), static_cast<uint32_t>(datasets.size()));
    for (const std::string& dataset : datasets) {
      std::array<uint8_t, sizeof(uint16_t)> length{};
      Put<uint16_t>(length.data(), static_cast<uint16_t>(dataset.size()));
      body.append(reinterpret_cast<const char*>(length.data()), length.size());
      body += dataset;
    }
    return stream->Write(body.data(), static_cast<int64_t>(body.size()));
  });
}

arrow::Result<WalPayload> EncodeEdges(std::string_view dataset, const arrow::RecordBatch& edges) {
  return EncodePayload(kEdgesCode, dataset, std::nullopt, [&](auto& stream) {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(stream, edges.schema()));
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(edges));
    return writer->Close();
  });
}

WalPayload EncodeSeal(uint64_t next_lsn) {
  std::array<uint8_t, kPrefixSize + sizeof(uint64_t)> payload{};
  payload[0] = kSealCode;  // and an empty name
  Put<uint64_t>(payload.data() + kPrefixSize, next_lsn);
  return WalPayload{{arrow::Buffer::FromString(
      std::string(reinterpret_cast<const char*>(payload.data()), payload.size()))}};
}

arrow::Result<WalEntry> DecodePayload(uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
  const auto malformed = [&](std::string_view why) {
    return arrow::Status::Invalid("WAL record ", lsn, " is malformed: ", why);
  };
  if (payload->size() < static_cast<int64_t>(kPrefixSize)) {
    return malformed("shorter than its prefix");
  }
  WalEntry entry;
  entry.lsn = lsn;
  const uint8_t code = payload->data()[0];
  bool counted = false;  // the body starts with the dataset's row count
  switch (code) {
    case kCreateCode:
      entry.type = WalRecordType::kCreateDataset;
      break;
    case kDropCode:
      entry.type = WalRecordType::kDropDataset;
      break;
    case kAppendCode:
    case kLegacyAppendCode:
      entry.type = WalRecordType::kAppend;
      counted = code == kAppendCode;
      break;
    case kDeleteCode:
    case kLegacyDeleteCode:
      entry.type = WalRecordType::kDelete;
      counted = code == kDeleteCode;
      break;
    case kCompactCode:
    case kLegacyCompactCode:
      entry.type = WalRecordType::kCompact;
      counted = code == kCompactCode;
      break;
    case kRowCountCode:
      entry.type = WalRecordType::kRowCount;
      counted = true;
      break;
    case kUpsertCode:
      entry.type = WalRecordType::kUpsert;
      counted = true;
      break;
    case kKeyedAppendCode:
      entry.type = WalRecordType::kAppend;
      entry.keyed = counted = true;  // the count is the first key
      break;
    case kKeyedDeleteCode:
      entry.type = WalRecordType::kDelete;
      entry.keyed = true;
      break;
    case kKeyedUpsertCode:
      entry.type = WalRecordType::kUpsert;
      entry.keyed = counted = true;
      break;
    case kRekeyCode:
      entry.type = WalRecordType::kRekey;
      entry.keyed = counted = true;  // the count is the next key
      break;
    case kCreateNamespaceCode:
      entry.type = WalRecordType::kCreateNamespace;
      break;
    case kDropNamespaceCode:
      entry.type = WalRecordType::kDropNamespace;
      break;
    case kEdgesCode:
      entry.type = WalRecordType::kEdges;
      break;
    case kSealCode:
      return malformed("a segment seal where a record was expected");
    default:
      return malformed("unknown record type");
  }
  const uint16_t name_length = Get<uint16_t>(payload->data() + 1);
  int64_t body = static_cast<int64_t>(kPrefixSize) + name_length;
  if (payload->size() < body) return malformed("dataset name past its end");
  entry.dataset.assign(reinterpret_cast<const char*>(payload->data()) + kPrefixSize, name_length);
  if (counted) {
    if (payload->size() < body + static_cast<int64_t>(sizeof(int64_t))) {
      return malformed(entry.keyed ? "first key past its end" : "row count past its end");
    }
    const auto count = Get<int64_t>(payload->data() + body);
    if (count < 0) return malformed(entry.keyed ? "negative first key" : "negative row count");
    if (entry.keyed) {
      entry.first_key = static_cast<uint64_t>(count);
    } else {
      entry.logged_rows = count;
    }
    body += sizeof(int64_t);
  }
  const auto body_size = static_cast<size_t>(payload->size() - body);
  arrow::Status decoded = arrow::Status::OK();
  switch (entry.type) {
    case WalRecordType::kDropDataset:
      break;
    case WalRecordType::kCreateNamespace:
      if (body_size != 0) decoded = arrow::Status::Invalid("bytes after the namespace name");
      break;
    case WalRecordType::kDropNamespace:
      decoded = DecodeDatasetList(payload->data() + body, body_size, &entry);
      break;
    case WalRecordType::kRowCount:
      if (body_size != 0) decoded = arrow::Status::Invalid("bytes after the row count");
      break;
    case WalRecordType::kDelete:
    case WalRecordType::kCompact:
    case WalRecordType::kRekey:
      decoded = DecodeRows(payload->data() + body, body_size, &entry);
      break;
    case WalRecordType::kCreateDataset:
    case WalRecordType::kAppend:
    case WalRecordType::kEdges:
      decoded = DecodeIpc(arrow::SliceBuffer(payload, body), &entry);
      break;
    case WalRecordType::kUpsert:
      decoded = DecodeUpsert(arrow::SliceBuffer(payload, body), &entry);
      break;
  }
  if (!decoded.ok()) return malformed(decoded.message());
  return entry;
}

arrow::Result<std::optional<uint64_t>> DecodeSeal(uint64_t lsn, const arrow::Buffer& payload) {
  if (payload.size() < 1 || payload.data()[0] != kSealCode) return std::nullopt;
  if (payload.size() != static_cast<int64_t>(kPrefixSize + sizeof(uint64_t)) ||
      Get<uint16_t>(payload.data() + 1) != 0) {
    return arrow::Status::Invalid("WAL record ", lsn, " is a malformed seal");
  }
  const auto next_lsn = Get<uint64_t>(payload.data() + kPrefixSize);
  if (next_lsn != lsn) {
    return arrow::Status::Invalid("WAL record ", lsn, " is a seal that continues at LSN ", next_lsn,
                                  ", not at its own");
  }
  return next_lsn;
}

std::array<uint8_t, kWalHeaderSize> EncodeHeader(uint64_t lsn, uint32_t payload_length,
                                                 uint32_t payload_crc) {
  std::array<uint8_t, kWalHeaderSize> header{};
  Put<uint32_t>(header.data() + 4, payload_length);
  Put<uint64_t>(header.data() + 8, lsn);
  Put<uint32_t>(header.data() + 16, payload_crc);
  Put<uint32_t>(header.data(), Crc32c(0, header.data() + 4, kWalHeaderSize - 4));
  return header;
}

arrow::Result<WalHeader> DecodeHeader(const uint8_t* bytes) {
  if (Get<uint32_t>(bytes) != Crc32c(0, bytes + 4, kWalHeaderSize - 4)) {
    return arrow::Status::Invalid("header checksum mismatch");
  }
  return WalHeader{Get<uint32_t>(bytes + 4), Get<uint64_t>(bytes + 8), Get<uint32_t>(bytes + 16)};
}

std::string WalSegmentName(uint64_t first_lsn) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(first_lsn));
  return std::string(name) + std::string(kWalSegmentSuffix);
}

}  // namespace arbalest
