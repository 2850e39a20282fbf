// Streaming scans of a dataset: filters, column projection and a row limit, applied batch by
// batch as the client reads, so a scan of any size holds one batch at a time.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/cached_filter.h"
#include "store/dataset.h"

namespace arbalest {

struct ScanOptions {
  std::shared_ptr<const CachedFilter> filter;       // null: every row
  std::optional<int64_t> limit;                     // at most this many rows (>= 0)
  std::optional<std::vector<std::string>> columns;  // output columns in this order; all if unset
  // Only the rows after this sealed segment (a catch-up's row scan after it adopted the
  // segments up to it: docs/cluster.md). Unset: from the first row.
  std::optional<SegmentRef> after_segment;
};

// A reader over the live rows of `snapshot` (deleted rows left out) that pass `options`. The filter
// and column names are checked before returning: Invalid names a missing column or a bad filter,
// or an after_segment that `snapshot` does not hold as a sealed segment (a compaction or a merge
// replaced it since it was named, or it was named by another process: rows would be missed or
// returned twice from it).
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ScanSnapshot(DatasetSnapshot snapshot,
                                                                      const ScanOptions& options);

// `batch` with `schema`'s trailing columns that it lacks (added by schema evolution after the
// batch was stored) filled with nulls.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> PadToSchema(
    const std::shared_ptr<arrow::RecordBatch>& batch, const std::shared_ptr<arrow::Schema>& schema);

// Calls `each(slice, first_row)` for the slices of `view`'s stored batches that hold dataset
// rows [begin, end), in order, `first_row` the dataset row of the slice's first row. The slices
// are the stored batches' (not padded to view.schema) and share their buffers. Stops at the
// first error `each` returns and returns it; rows past the view's end are not visited.
template <class Each>
arrow::Status ForEachRowSlice(const DatasetSnapshot& view, int64_t begin, int64_t end,
                              const Each& each) {
  int64_t batch_start = 0;
  for (const auto& batch : view.batches) {
    if (batch_start >= end) break;
    const int64_t batch_end = batch_start + batch->num_rows();
    const int64_t from = std::max(batch_start, begin);
    const int64_t to = std::min(batch_end, end);
    if (from < to) ARROW_RETURN_NOT_OK(each(batch->Slice(from - batch_start, to - from), from));
    batch_start = batch_end;
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
