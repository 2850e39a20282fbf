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

// type u8 | name_len u16 | name | body, where body is what `write_body` writes.
template <typename WriteBody>
arrow::Result<WalPayload> EncodePayload(WalRecordType type, std::string_view dataset,
                                        WriteBody write_body) {
  auto stream = std::make_shared<BufferListOutputStream>();
  std::array<uint8_t, 3> prefix{};
  prefix[0] = static_cast<uint8_t>(type);
  Put<uint16_t>(prefix.data() + 1, static_cast<uint16_t>(dataset.size()));
  ARROW_RETURN_NOT_OK(stream->Write(prefix.data(), prefix.size()));
  ARROW_RETURN_NOT_OK(stream->Write(dataset.data(), static_cast<int64_t>(dataset.size())));
  ARROW_RETURN_NOT_OK(write_body(stream));
  return WalPayload{stream->Finish()};
}

// A record whose body is a row bitmap in Roaring's portable serialization.
arrow::Result<WalPayload> EncodeRows(WalRecordType type, std::string_view dataset,
                                     const Roaring& rows) {
  return EncodePayload(type, dataset, [&](auto& stream) {
    std::string body(rows.getSizeInBytes(/*portable=*/true), '\0');
    rows.write(body.data(), /*portable=*/true);
    return stream->Write(body.data(), static_cast<int64_t>(body.size()));
  });
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
  return EncodePayload(WalRecordType::kCreateDataset, dataset, [&](auto& stream) {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(stream, schema));
    return writer->Close();
  });
}

arrow::Result<WalPayload> EncodeAppend(std::string_view dataset, const arrow::RecordBatch& batch) {
  return EncodePayload(WalRecordType::kAppend, dataset, [&](auto& stream) {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(stream, batch.schema()));
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(batch));
    return writer->Close();
  });
}

arrow::Result<WalPayload> EncodeDropDataset(std::string_view dataset) {
  return EncodePayload(WalRecordType::kDropDataset, dataset,
                       [](auto&) { return arrow::Status::OK(); });
}

arrow::Result<WalPayload> EncodeDelete(std::string_view dataset, const Roaring& rows) {
  return EncodeRows(WalRecordType::kDelete, dataset, rows);
}

arrow::Result<WalPayload> EncodeCompact(std::string_view dataset, const Roaring& dropped) {
  return EncodeRows(WalRecordType::kCompact, dataset, dropped);
}

arrow::Result<WalEntry> DecodePayload(uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
  const auto malformed = [&](std::string_view why) {
    return arrow::Status::Invalid("WAL record ", lsn, " is malformed: ", why);
  };
  if (payload->size() < 3) return malformed("shorter than its prefix");
  WalEntry entry;
  entry.lsn = lsn;
  const uint8_t type = payload->data()[0];
  if (type < 1 || type > 5) return malformed("unknown record type");
  entry.type = static_cast<WalRecordType>(type);
  const uint16_t name_length = Get<uint16_t>(payload->data() + 1);
  if (payload->size() < 3 + name_length) return malformed("dataset name past its end");
  entry.dataset.assign(reinterpret_cast<const char*>(payload->data()) + 3, name_length);
  if (entry.type == WalRecordType::kDropDataset) return entry;
  if (entry.type == WalRecordType::kDelete || entry.type == WalRecordType::kCompact) {
    const std::string_view body(reinterpret_cast<const char*>(payload->data()) + 3 + name_length,
                                static_cast<size_t>(payload->size() - 3 - name_length));
    auto rows = ReadRowBitmap(body);
    if (!rows.ok()) return malformed(rows.status().message());
    entry.rows = std::move(*rows);
    return entry;
  }

  auto body = arrow::SliceBuffer(payload, 3 + name_length);
  auto input = std::make_shared<arrow::io::BufferReader>(body);
  // The stream starts 3 + name_length bytes into the payload, so its buffers are as misaligned
  // as that: Arrow copies those whose type needs alignment (reading an int64 column in place
  // would be undefined behaviour).
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input, options);
  if (!reader.ok()) return malformed(reader.status().message());
  entry.schema = (*reader)->schema();
  if (entry.type == WalRecordType::kAppend) {
    auto batch = (*reader)->Next();
    if (!batch.ok() || *batch == nullptr) return malformed("append without a record batch");
    // The log holds what ingest validated, but a record is read as it is on disk.
    if (arrow::Status valid = (*batch)->ValidateFull(); !valid.ok()) {
      return malformed(valid.message());
    }
    entry.batch = std::move(*batch);
  }
  return entry;
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
