#include "index/index_rows.h"

#include <algorithm>
#include <array>
#include <limits>

namespace arbalest {
namespace {

constexpr size_t kRowAlign = 16;
constexpr size_t kScanBatch = 64;

}  // namespace

IndexRows::IndexRows(const DistanceSpace& space)
    : space_(space), rows_(space.row_bytes(), kRowAlign), flags_(1, 1) {}

arrow::Result<RowId> IndexRows::Append(const float* vector) {
  const RowId row = count_.fetch_add(1, std::memory_order_acq_rel);
  if (row == std::numeric_limits<RowId>::max() || !rows_.Reserve(uint64_t{row} + 1) ||
      !flags_.Reserve(uint64_t{row} + 1)) {
    return arrow::Status::CapacityError("vector store cannot grow beyond ", row, " rows");
  }
  space_.EncodeRow(vector, rows_.At(row));
  std::atomic_ref<uint8_t>(*flags_.At(row)).store(kReady, std::memory_order_release);
  return row;
}

IndexRows::LentRows IndexRows::Lend(RowId first, uint64_t count) const {
  const uint64_t chunk = rows_.records_per_chunk();
  if (count == 0 || rows_.stride() != rows_.record_bytes() || first + count > count_.load() ||
      first / chunk != (first + count - 1) / chunk) {
    return {};
  }
  std::shared_ptr<const uint8_t> owner = rows_.ChunkOwner(first);
  if (!owner) return {};
  return {rows_.At(first), std::move(owner), rows_.Owns(first)};
}

void IndexRows::SetLoadedCount(RowId count) { count_.store(count, std::memory_order_release); }

void IndexRows::Scan(const float* query, const SearchOptions& options, TopK* top) const {
  const RowId limit = options.row_limit > 0 ? std::min(options.row_limit, count()) : count();
  const Roaring* filter = options.filter;
  const Roaring* exclude = options.exclude;
  std::array<RowId, kScanBatch> ids;
  std::array<const void*, kScanBatch> rows;
  std::array<float, kScanBatch> distances;
  size_t n = 0;
  auto flush = [&] {
    space_.DistancesToRows(query, rows.data(), n, distances.data());
    for (size_t i = 0; i < n; ++i) top->Push({ids[i], distances[i]});
    n = 0;
  };
  const RowId offset = options.row_offset;  // filter bit = row + offset
  auto visit = [&](RowId row) {
    if (!IsReady(row) || (exclude != nullptr && exclude->contains(row + options.exclude_offset))) {
      return;
    }
    ids[n] = row;
    rows[n] = Row(row);
    if (++n == kScanBatch) flush();
  };
  if (filter == nullptr) {
    for (RowId row = 0; row < limit; ++row) visit(row);
  } else {
    auto it = filter->begin();
    it.equalorlarger(offset);
    for (; it != filter->end() && *it - offset < limit; ++it) visit(*it - offset);
  }
  flush();
}

}  // namespace arbalest
