#include "persist/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace arbalest {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    table[i] = crc;
  }
  return table;
}

// Byte at a time through a table: any CPU.
uint32_t Crc32cPortable(uint32_t crc, const uint8_t* bytes, size_t size) {
  static constexpr std::array<uint32_t, 256> kTable = MakeTable();
  for (; size > 0; --size, ++bytes) crc = (crc >> 8) ^ kTable[(crc ^ *bytes) & 0xFF];
  return crc;
}

#if defined(__x86_64__)
// SSE4.2's crc32 instruction, 8 bytes at a time (about 20x the table). Compiled for SSE4.2
// whatever the baseline, and called only where the CPU has it.
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(uint32_t crc, const uint8_t* bytes,
                                                       size_t size) {
  uint64_t crc64 = crc;
  for (; size >= 8; size -= 8, bytes += 8) {
    uint64_t word;
    std::memcpy(&word, bytes, sizeof(word));
    crc64 = _mm_crc32_u64(crc64, word);
  }
  crc = static_cast<uint32_t>(crc64);
  for (; size > 0; --size, ++bytes) crc = _mm_crc32_u8(crc, *bytes);
  return crc;
}
#endif

using Crc32cFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

Crc32cFn PickCrc32c() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return Crc32cSse42;
#endif
  return Crc32cPortable;
}

}  // namespace

uint32_t Crc32c(uint32_t crc, const void* data, size_t size) {
  static const Crc32cFn kCrc32c = PickCrc32c();
  return ~kCrc32c(~crc, static_cast<const uint8_t*>(data), size);
}

uint32_t Crc32cPortableForTest(uint32_t crc, const void* data, size_t size) {
  return ~Crc32cPortable(~crc, static_cast<const uint8_t*>(data), size);
}

}  // namespace arbalest
