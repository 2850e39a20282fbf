#include "store/tail_scan.h"

#include <arrow/array.h>
#include <arrow/status.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <optional>

#include "store/dataset_index.h"
#include "store/vector_sharing.h"

namespace arbalest {
namespace {

constexpr size_t kBlockRows = 64;          // rows per kernel call
constexpr size_t kStackBytes = 32 * 1024;  // room for rows converted to their stored form
constexpr size_t kHeapBlockRows = 8;       // rows per block when one does not fit that room

arrow::Status CheckVectorColumn(const arrow::RecordBatch& batch, int column,
                                const DistanceSpace& space) {
  if (column < 0 || column >= batch.num_columns() ||
      batch.column(column)->type_id() != arrow::Type::FIXED_SIZE_LIST) {
    return arrow::Status::Invalid("column ", column, " of a dataset batch is not a vector column");
  }
  const auto& list = static_cast<const arrow::FixedSizeListArray&>(*batch.column(column));
  const auto type = ElementTypeOf(*list.value_type());
  if (!type.ok() || *type != space.type() ||
      static_cast<size_t>(list.list_type()->list_size()) != space.dim() || list.null_count() > 0) {
    return arrow::Status::Invalid("vector column ", list.type()->ToString(),
                                  " does not hold non-null rows of ", space.dim(), " ",
                                  simd::ElementTypeName(space.type()), " elements");
  }
  return arrow::Status::OK();
}

// Rows of `rows` (a bitmap) from a starting row on, asked for in increasing order.
class RowCursor {
 public:
  RowCursor(const Roaring& rows, uint32_t first) : it_(rows.begin()), end_(rows.end()) {
    it_.equalorlarger(first);
  }
  // Whether `row` is in the bitmap; rows asked for never decrease.
  bool Holds(uint32_t row) {
    while (it_ != end_ && *it_ < row) ++it_;
    return it_ != end_ && *it_ == row;
  }

 private:
  Roaring::const_iterator it_;
  Roaring::const_iterator end_;
};

// Collects rows into blocks and pushes their distances into a bounded top-k.
class BlockScanner {
 public:
  BlockScanner(const DistanceSpace& space, const float* query, size_t k)
      : space_(space), query_(query), top_(k) {
    if (!space.normalizes()) return;
    // Rows are converted to the stored form: a scratch of 2 * dim floats, then the rows.
    const size_t scratch_bytes = 2 * space.dim() * sizeof(float);
    const size_t fit =
        kStackBytes > scratch_bytes ? (kStackBytes - scratch_bytes) / space.row_bytes() : 0;
    std::byte* area = stack_.data();
    if (fit == 0) {
      heap_.resize(scratch_bytes + kHeapBlockRows * space.row_bytes());
      area = heap_.data();
    }
    block_rows_ = fit == 0 ? kHeapBlockRows : std::min(kBlockRows, fit);
    scratch_ = reinterpret_cast<float*>(area);
    converted_ = area + scratch_bytes;
  }

  void Add(RowId row, const uint8_t* vector) {
    ids_[n_] = row;
    rows_[n_] = vector;
    if (++n_ == block_rows_) Flush();
  }

  std::vector<Neighbor> Finish() {
    Flush();
    std::vector<Neighbor> found;
    top_.DrainSorted(&found);
    for (Neighbor& neighbor : found) neighbor.distance = space_.Reported(neighbor.distance);
    return found;
  }

 private:
  void Flush() {
    if (n_ == 0) return;
    if (space_.normalizes()) {
      for (size_t i = 0; i < n_; ++i) {
        std::byte* row = converted_ + i * space_.row_bytes();
        space_.StoreReceivedRow(rows_[i], row, scratch_);
        rows_[i] = row;
      }
    }
    space_.DistancesToRows(query_, rows_.data(), n_, distances_.data());
    for (size_t i = 0; i < n_; ++i) top_.Push({ids_[i], distances_[i]});
    n_ = 0;
  }

  const DistanceSpace& space_;
  const float* query_;
  TopK top_;
  size_t block_rows_ = kBlockRows;
  size_t n_ = 0;
  std::array<RowId, kBlockRows> ids_;
  std::array<const void*, kBlockRows> rows_;
  std::array<float, kBlockRows> distances_;
  // Normalizing spaces only: rows in their stored form, and the conversion's scratch.
  alignas(64) std::array<std::byte, kStackBytes> stack_;
  std::vector<std::byte> heap_;  // instead of stack_ for rows too wide for it
  float* scratch_ = nullptr;
  std::byte* converted_ = nullptr;
};

}  // namespace

arrow::Result<std::vector<Neighbor>> ScanTail(const TailScanRequest& request,
                                              const DistanceSpace& space,
                                              std::span<const float> query, size_t k) {
  if (query.size() != space.dim()) {
    return arrow::Status::Invalid("query vector has width ", query.size(), ", the rows have ",
                                  space.dim());
  }
  std::vector<float> prepared(space.dim());
  space.PrepareQuery(query.data(), prepared.data());
  BlockScanner scanner(space, prepared.data(), k);
  const auto first = static_cast<uint32_t>(std::max<int64_t>(request.first_row, 0));
  std::optional<RowCursor> excluded;
  const auto exclude_first = static_cast<uint32_t>(request.exclude_first_row);
  if (request.exclude) excluded.emplace(*request.exclude, first - std::min(first, exclude_first));
  std::optional<Roaring::const_iterator> allowed;  // the next row of the filter to scan
  if (request.filter) {
    allowed = request.filter->begin();
    allowed->equalorlarger(first);
  }
  const size_t row_bytes = space.row_bytes();
  int64_t batch_first = 0;
  const int64_t end_row =
      request.end_row < 0 ? std::numeric_limits<int64_t>::max() : request.end_row;
  for (const auto& stored : request.batches) {
    if (batch_first >= end_row) break;
    const int64_t stored_end = batch_first + stored->num_rows();
    // A batch across end_row is scanned up to it (a sealed segment ends mid-batch after a
    // compaction coalesced batches).
    std::shared_ptr<arrow::RecordBatch> cut;
    if (stored_end > end_row) cut = stored->Slice(0, end_row - batch_first);
    const arrow::RecordBatch* batch = cut ? cut.get() : stored.get();
    const int64_t batch_end = batch_first + batch->num_rows();
    if (batch_end > first && batch->num_rows() > 0) {
      ARROW_RETURN_NOT_OK(CheckVectorColumn(*batch, request.vector_column, space));
      const uint8_t* vectors = VectorBytes(*batch, request.vector_column, 0);
      const auto scan = [&](uint32_t row) {
        if (excluded && row >= exclude_first && excluded->Holds(row - exclude_first)) return;
        scanner.Add(row, vectors + (row - batch_first) * row_bytes);
      };
      if (allowed) {
        const Roaring::const_iterator& allowed_end = request.filter->end();
        for (; *allowed != allowed_end && **allowed < batch_end; ++*allowed) scan(**allowed);
      } else {
        for (auto row = static_cast<uint32_t>(std::max<int64_t>(first, batch_first));
             row < batch_end; ++row) {
          scan(row);
        }
      }
    }
    batch_first = stored_end;
  }
  return scanner.Finish();
}

}  // namespace arbalest
