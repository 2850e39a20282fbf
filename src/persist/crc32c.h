// CRC-32C (Castagnoli), the checksum of WAL records. Uses the SSE4.2 crc32 instruction where
// the CPU has it (checked once at runtime: the portable x86-64 baseline does not promise it),
// and a table elsewhere. Hand-written because no Debian
// package offers it as a small library (abseil's crc arrived after Debian 12's version).
#pragma once

#include <cstddef>
#include <cstdint>

namespace arbalest {

// Extends `crc` (0 to start) over `size` bytes at `data`.
uint32_t Crc32c(uint32_t crc, const void* data, size_t size);

// The table version, whatever the CPU: for tests that compare the two.
uint32_t Crc32cPortableForTest(uint32_t crc, const void* data, size_t size);

}  // namespace arbalest
