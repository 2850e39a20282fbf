// Edges as Arrow data: the canonical batch the WAL logs and bulk loads arrive as (columns
// subject int64, predicate utf8, object int64, weight float32, none null), and its checks.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>

#include "graph/edge_log.h"

namespace arbalest {

std::shared_ptr<arrow::Schema> EdgeSchema();

// A client's edges in the canonical form: `subject` and `object` of any integer type (cast to
// int64, refused when a value does not fit), `predicate` a string (utf8, large_utf8 or a
// dictionary of them), `weight` any number type (cast to float32; optional, 1.0 when absent).
// Other columns are refused. Invalid names the column and row of a null, an empty predicate or
// a weight that is not finite.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ConformEdges(const arrow::RecordBatch& batch);

// The rows of a canonical batch (predicates view the batch's strings: keep it alive).
EdgeRows EdgeRowsOf(const arrow::RecordBatch& canonical);

}  // namespace arbalest
