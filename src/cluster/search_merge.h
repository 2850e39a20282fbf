// The merge of a fanned-out search: each node's best rows, in one schema (a single node's search
// result: id, score, distance, columns), into the best `k` overall by score (higher is better;
// for dense searches the same order as distance ascending). Rows of equal score keep the order
// of `parts`, so the answer does not depend on which node answered first.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>
#include <vector>

namespace arbalest {

// The rows of `parts` in one batch, in the order given, under the first part's schema without
// its metadata. Invalid when `parts` is empty or their schemas differ (metadata aside).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CombineParts(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts);

// Invalid when `parts` is empty, when their schemas differ (metadata aside) or when there is no
// float32 "score" column.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MergeTopK(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts, int64_t k);

}  // namespace arbalest
