// The input format of the fuzz_wal target: a description of a WAL directory from which the
// target writes real segment files. Records carry correct checksums unless the input asks
// otherwise, so that the fuzzer reaches the payload decoder and the replay instead of stopping
// at the first checksum; flags add the damage the reader must cope with.
//
//   input   := options:u8 chunk*            options bit 0: --wal-skip-corrupt
//   chunk   := flags:u8 lsn_step:u8 length:u16le bytes[length]   (bytes cut short at the end)
//   flags   bit 0 (kNewSegment):    start a new segment file before this chunk
//           bit 1 (kRaw):           write the bytes as they are (garbage, zeros, a torn header)
//           bit 2 (kBadHeaderCrc):  flip a bit of the record's header checksum
//           bit 3 (kBadPayloadCrc): flip a bit of the record's payload checksum
//           bit 4 (kTorn):          write the header and only the first half of the payload
// A record's LSN is the previous record's plus lsn_step (the first: lsn_step); a segment is
// named after the LSN of its first record. scripts/fuzz_seeds.py writes real logs this way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace arbalest::fuzz {

inline constexpr uint8_t kSkipCorruptOption = 1;

enum WalChunkFlags : uint8_t {
  kNewSegment = 1,
  kRaw = 2,
  kBadHeaderCrc = 4,
  kBadPayloadCrc = 8,
  kTorn = 16,
};

// Writes the segments `data` describes into `dir` (which exists and is empty); returns the
// options byte.
uint8_t WriteWalDirectory(const uint8_t* data, size_t size, const std::string& dir);

}  // namespace arbalest::fuzz
