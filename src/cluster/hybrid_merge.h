// The coordinator's half of a cluster-wide hybrid search (docs/cluster.md, "Hybrid search"):
// the shards' candidates (store/hybrid_search.h: each shard's dense list and its text list,
// BM25 scored with the global statistics) merged into the two lists one node holding every
// row would have ranked, fused by reciprocal rank (text/fusion.h) exactly as that node fuses
// them, and cut to the best k in a single node's result columns.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace arbalest {

// `parts`: the candidates of each shard (or member), in a fixed order. The merged dense list is
// every row with a distance, nearest first; the text list every row with a BM25 score, highest
// first; each cut to `depth`. Equal distances or scores keep the order of `parts`, then of the
// rows within a part, and equal fused scores go to the row earlier in that order (a single node
// orders both by its row numbers instead). The result: the best `k` rows, with the fused score
// in `score`, the distance of rows in the merged dense list (null for the others), and the
// BM25 column dropped. Invalid when `parts` is empty, their columns differ (metadata aside),
// or they lack float32 score and distance or the float64 BM25 column, or alpha is not in
// [0, 1].
arrow::Result<std::shared_ptr<arrow::RecordBatch>> FuseCandidates(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts, int64_t k, double alpha,
    int64_t depth);

}  // namespace arbalest
