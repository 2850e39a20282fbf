#include "store/segment.h"

#include <atomic>

namespace arbalest {
namespace {

std::atomic<int64_t> default_segment_max_bytes{kDefaultSegmentMaxBytes};

}  // namespace

int64_t DefaultSegmentMaxBytes() {
  return default_segment_max_bytes.load(std::memory_order_relaxed);
}

void SetDefaultSegmentMaxBytes(int64_t bytes) {
  default_segment_max_bytes.store(bytes, std::memory_order_relaxed);
}

Roaring LocalRows(const Roaring& rows, int64_t first, int64_t end) {
  std::vector<uint32_t> local;
  auto it = rows.begin();
  it.equalorlarger(static_cast<uint32_t>(first));
  for (; it != rows.end() && *it < end; ++it) local.push_back(*it - static_cast<uint32_t>(first));
  Roaring out;
  out.addMany(local.size(), local.data());
  return out;
}

Roaring DeletedInSegmentsPast(const std::vector<SegmentView>& segments, const Roaring& deleted,
                              double fraction) {
  Roaring selected;
  for (const SegmentView& segment : segments) {
    if (segment.rows == 0) continue;
    const uint64_t in_segment =
        roaring_bitmap_range_cardinality(&deleted.roaring, static_cast<uint64_t>(segment.first_row),
                                         static_cast<uint64_t>(segment.end_row()));
    if (static_cast<double>(in_segment) < fraction * static_cast<double>(segment.rows)) continue;
    Roaring range;
    range.addRange(static_cast<uint64_t>(segment.first_row),
                   static_cast<uint64_t>(segment.end_row()));
    selected |= deleted & range;
  }
  return selected;
}

MemoryUsage GraphMemory(const std::vector<SegmentView>& segments) {
  MemoryUsage total;
  for (const SegmentView& segment : segments) {
    const MemoryUsage memory = segment.graph->memory();
    total.vector_bytes += memory.vector_bytes;
    total.graph_bytes += memory.graph_bytes;
    total.scratch_bytes += memory.scratch_bytes;
  }
  return total;
}

int64_t LentBytes(const std::vector<SegmentView>& segments, int64_t from, int64_t to) {
  int64_t bytes = 0;
  for (const SegmentView& segment : segments) {
    const int64_t begin = std::max(from, segment.first_row) - segment.first_row;
    const int64_t end = std::min(to, segment.end_row()) - segment.first_row;
    const RecordArena& arena = segment.graph->rows().rows();
    const auto chunk = static_cast<int64_t>(arena.records_per_chunk());
    for (int64_t row = begin; row < end; row = (row / chunk + 1) * chunk) {
      const int64_t run = std::min(end, (row / chunk + 1) * chunk) - row;
      if (arena.Owns(static_cast<uint64_t>(row))) {
        bytes += run * static_cast<int64_t>(segment.graph->rows().row_bytes());
      }
    }
  }
  return bytes;
}

}  // namespace arbalest
