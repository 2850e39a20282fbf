// Portable Roaring bitmaps that CRoaring's reader accepts though their contents are wrong, as
// fuzz_tombstones and fuzz_wal found them, for the tests of the readers that must refuse them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace arbalest::testing {

// One container of key 0 in the portable format without run containers: cookie 12346, the
// container count, key and cardinality - 1, the container's offset, then `payload`.
inline std::string OneContainerBitmap(uint16_t cardinality, const std::string& payload) {
  std::string bytes(16, '\0');
  const uint32_t cookie = 12346, containers = 1, offset = 16;
  const uint16_t key = 0, cardinality_minus_one = static_cast<uint16_t>(cardinality - 1);
  std::memcpy(bytes.data(), &cookie, 4);
  std::memcpy(bytes.data() + 4, &containers, 4);
  std::memcpy(bytes.data() + 8, &key, 2);
  std::memcpy(bytes.data() + 10, &cardinality_minus_one, 2);
  std::memcpy(bytes.data() + 12, &offset, 4);
  return bytes + payload;
}

// An array container of `values` as they are (sorted or not).
inline std::string ArrayBitmap(const std::vector<uint16_t>& values) {
  return OneContainerBitmap(
      static_cast<uint16_t>(values.size()),
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(uint16_t)));
}

// A bitset container claiming 4500 values whose words hold 32768 (every other bit).
inline std::string MiscountedBitsetBitmap() {
  return OneContainerBitmap(4500, std::string(8192, '\x55'));
}

}  // namespace arbalest::testing
