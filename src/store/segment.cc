#include "store/segment.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <limits>

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

Roaring DeletedInSegmentsPast(const std::vector<SegmentView>& segments, double fraction) {
  Roaring selected;
  for (const SegmentView& segment : segments) {
    if (segment.rows == 0 || segment.deleted->empty()) continue;
    const auto in_segment = static_cast<double>(segment.deleted->size());
    if (in_segment < fraction * static_cast<double>(segment.rows)) continue;
    selected |= ShiftedRows(segment.deleted->rows(), segment.first_row);
  }
  return selected;
}

const SegmentView* SegmentOf(const std::vector<SegmentView>& segments, int64_t row) {
  // The last segment starting at or before `row` (empty segments of a snapshot being loaded
  // start where the rows end).
  const auto after =
      std::upper_bound(segments.begin(), segments.end(), row,
                       [](int64_t value, const SegmentView& s) { return value < s.first_row; });
  if (after == segments.begin()) return nullptr;
  const SegmentView& segment = *std::prev(after);
  return row < segment.end_row() ? &segment : nullptr;
}

SegmentRef SegmentRef::Of(const SegmentView& segment) {
  return {segment.first_row, segment.rows,
          static_cast<uint64_t>(reinterpret_cast<uintptr_t>(segment.graph.get()))};
}

const SegmentView* SealedSegmentNamed(const std::vector<SegmentView>& segments,
                                      const SegmentRef& ref) {
  for (size_t s = 0; s + 1 < segments.size(); ++s) {
    if (SegmentRef::Of(segments[s]) == ref) return &segments[s];
  }
  return nullptr;
}

bool IsDeletedRow(const std::vector<SegmentView>& segments, int64_t row) {
  const SegmentView* segment = SegmentOf(segments, row);
  return segment != nullptr &&
         segment->deleted->contains(static_cast<uint32_t>(row - segment->first_row));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropDeletedRows(
    const std::vector<SegmentView>& segments, const std::shared_ptr<arrow::RecordBatch>& batch,
    int64_t first_row) {
  const int64_t end = first_row + batch->num_rows();
  const SegmentView* only = SegmentOf(segments, first_row);
  if (only != nullptr && end <= only->end_row()) {  // the common case: inside one segment
    return only->deleted->DropDeleted(batch, first_row - only->first_row);
  }
  // Across segments: each one's deleted rows in the batch, as the batch's own rows.
  Roaring in_batch;
  for (const SegmentView& segment : segments) {
    if (segment.end_row() <= first_row || segment.first_row >= end) continue;
    const int64_t from = std::max(first_row, segment.first_row) - segment.first_row;
    const int64_t to = std::min(end, segment.end_row()) - segment.first_row;
    in_batch |= ShiftedRows(LocalRows(segment.deleted->rows(), from, to),
                            segment.first_row + from - first_row);
  }
  return DropRows(batch, in_batch, 0);
}

std::vector<std::shared_ptr<const TombstoneSet>> WithDeletedRows(
    std::vector<std::shared_ptr<const TombstoneSet>> sets, const std::vector<int64_t>& firsts,
    const Roaring& rows) {
  for (size_t s = 0; s < firsts.size() && s < sets.size(); ++s) {
    const int64_t end =
        s + 1 < firsts.size() ? firsts[s + 1] : std::numeric_limits<uint32_t>::max() + int64_t{1};
    const Roaring local = LocalRows(rows, firsts[s], end);
    if (!local.isEmpty()) sets[s] = sets[s]->With(local);
  }
  return sets;
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
