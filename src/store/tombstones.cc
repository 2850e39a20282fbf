#include "store/tombstones.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/api.h>
#include <arrow/status.h>
#include <arrow/util/bit_util.h>

#include <vector>

namespace arbalest {

std::shared_ptr<const TombstoneSet> TombstoneSet::Empty() {
  static const auto empty = std::make_shared<const TombstoneSet>(Roaring());
  return empty;
}

std::shared_ptr<const TombstoneSet> TombstoneSet::With(const Roaring& rows) const {
  Roaring merged = rows_ | rows;
  merged.runOptimize();  // deletes of id ranges become run containers
  return std::make_shared<const TombstoneSet>(std::move(merged));
}

uint64_t TombstoneSet::CountIn(int64_t begin, int64_t end) const {
  if (end <= begin) return 0;
  return roaring_bitmap_range_cardinality(&rows_.roaring, static_cast<uint64_t>(begin),
                                          static_cast<uint64_t>(end));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> TombstoneSet::DropDeleted(
    const std::shared_ptr<arrow::RecordBatch>& batch, int64_t first_row) const {
  return DropRows(batch, rows_, first_row);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> DropRows(
    const std::shared_ptr<arrow::RecordBatch>& batch, const Roaring& rows, int64_t first_row) {
  const int64_t end = first_row + batch->num_rows();
  if (end <= first_row ||
      roaring_bitmap_range_cardinality(&rows.roaring, static_cast<uint64_t>(first_row),
                                       static_cast<uint64_t>(end)) == 0) {
    return batch;
  }
  // A selection mask, true for live rows: every bit set, then the deleted ones cleared.
  const int64_t length = batch->num_rows();
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> bits, arrow::AllocateBitmap(length));
  arrow::bit_util::SetBitsTo(bits->mutable_data(), 0, length, true);
  auto it = rows.begin();
  it.equalorlarger(static_cast<uint32_t>(first_row));
  for (; it != rows.end() && *it < end; ++it) {
    arrow::bit_util::ClearBit(bits->mutable_data(), *it - first_row);
  }
  auto mask = std::make_shared<arrow::BooleanArray>(length, std::move(bits));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum kept, arrow::compute::Filter(batch, mask));
  return kept.record_batch();
}

Roaring CompactedRowNumbers(const Roaring& rows, const Roaring& dropped) {
  if (dropped.isEmpty()) return rows;
  // One walk over both, in order: a row moves down by the dropped rows passed so far.
  std::vector<uint32_t> kept;
  kept.reserve(rows.cardinality());
  auto next_dropped = dropped.begin();
  uint32_t below = 0;
  for (const uint32_t row : rows) {
    for (; next_dropped != dropped.end() && *next_dropped < row; ++next_dropped) ++below;
    if (next_dropped != dropped.end() && *next_dropped == row) continue;
    kept.push_back(row - below);
  }
  Roaring renumbered;
  renumbered.addMany(kept.size(), kept.data());
  renumbered.runOptimize();
  return renumbered;
}

Roaring ShiftedRows(const Roaring& rows, int64_t offset) {
  if (offset == 0) return rows;
  std::vector<uint32_t> values(rows.cardinality());
  rows.toUint32Array(values.data());
  for (uint32_t& value : values) value = static_cast<uint32_t>(value + offset);
  Roaring shifted;
  shifted.addMany(values.size(), values.data());
  shifted.runOptimize();
  return shifted;
}

}  // namespace arbalest
