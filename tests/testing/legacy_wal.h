// WAL payloads as logs written before row counts have them, to test that such logs still
// replay: appends, deletes and compactions as types 2, 4 and 5, without the i64 row count after
// the dataset name (persist/wal_format.h).
#pragma once

#include <arrow/buffer.h>

#include <cstdint>
#include <map>
#include <string>

#include "persist/wal_format.h"

namespace arbalest::testing {

// `current`, an append, delete or compaction payload, as a log before row counts has it.
inline WalPayload LegacyPayload(const WalPayload& current) {
  static const std::map<uint8_t, uint8_t> kLegacyType = {{7, 2}, {8, 4}, {9, 5}};
  const auto contiguous = current.Contiguous().ValueOrDie();
  std::string bytes = contiguous->ToString();
  const size_t name_length = static_cast<uint8_t>(bytes[1]) | static_cast<uint8_t>(bytes[2]) << 8;
  bytes[0] = static_cast<char>(kLegacyType.at(static_cast<uint8_t>(bytes[0])));
  bytes.erase(3 + name_length, sizeof(int64_t));
  return WalPayload{{arrow::Buffer::FromString(std::move(bytes))}};
}

}  // namespace arbalest::testing
