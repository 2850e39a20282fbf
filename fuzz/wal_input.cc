#include "wal_input.h"

#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "persist/crc32c.h"
#include "persist/wal_format.h"

namespace arbalest::fuzz {

uint8_t WriteWalDirectory(const uint8_t* data, size_t size, const std::string& dir) {
  if (size == 0) return 0;
  const uint8_t options = data[0];
  size_t at = 1;
  uint64_t lsn = 0;
  std::vector<uint8_t> segment;
  uint64_t segment_lsn = 1;
  const auto flush = [&] {
    WriteFile(dir + "/" + WalSegmentName(segment_lsn), segment.data(), segment.size());
    segment.clear();
  };
  bool started = false;
  while (at + 4 <= size) {
    const uint8_t flags = data[at];
    const uint8_t lsn_step = data[at + 1];
    size_t length = data[at + 2] | (size_t{data[at + 3]} << 8);
    at += 4;
    if (length > size - at) length = size - at;
    const uint8_t* bytes = data + at;
    at += length;
    const uint64_t next_lsn = lsn + lsn_step;
    if (!started || (flags & kNewSegment)) {
      if (started) flush();
      started = true;
      segment_lsn = (flags & kRaw) ? lsn + 1 : next_lsn;
    }
    if (flags & kRaw) {
      segment.insert(segment.end(), bytes, bytes + length);
      continue;
    }
    lsn = next_lsn;
    uint32_t payload_crc = Crc32c(0, bytes, length);
    if (flags & kBadPayloadCrc) payload_crc ^= 1;
    auto header = EncodeHeader(lsn, static_cast<uint32_t>(length), payload_crc);
    if (flags & kBadHeaderCrc) header[0] ^= 1;
    segment.insert(segment.end(), header.begin(), header.end());
    segment.insert(segment.end(), bytes, bytes + ((flags & kTorn) ? length / 2 : length));
  }
  if (started) flush();
  return options;
}

}  // namespace arbalest::fuzz
