// Hybrid search: the BM25 ranking of a dataset's text columns (dataset_text.h) and the dense
// ranking of its vectors (search.h), each restricted by the same filter bitmap, merged by
// weighted reciprocal-rank fusion (text/fusion.h).
//
//   alpha = 1      dense only: the dense search's k rows, in its order
//   alpha = 0      text only: the k best rows by BM25 (no query vector needed)
//   0 < alpha < 1  the top kHybridDepthFactor * k rows (at least ef) of each side, fused
//   alpha < 0      alpha picked from the query's length by AdaptiveAlpha
//
// A result row's score is its fused score, alpha / (60 + dense rank) + (1 - alpha) / (60 +
// text rank), higher is better; its distance is the dense distance when the row was in the
// dense list, null otherwise.
//
// A request with text_stats (a cluster-wide search's hop, docs/cluster.md) is not fused here:
// it returns its candidates, the rows of the dense list and of the text list (BM25 scored with
// the global statistics), each HybridDepth deep, for the coordinator to merge into global lists
// and fuse (cluster/hybrid_merge.h). Their distance is the dense distance (null: not in the
// dense list), their score 0, and a last float64 column kBm25ScoreColumn holds the BM25 score
// (null: not in the text list).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>

#include "store/dataset.h"
#include "store/search.h"

namespace arbalest {

// The weight of the dense side when a request has a text query and no alpha: both equal.
inline constexpr double kDefaultHybridAlpha = 0.5;

// Each side of a fused search ranks this many times k rows (or ef, if larger), so that a row
// ranked just outside one side's top k can still be lifted by the other side.
inline constexpr int64_t kHybridDepthFactor = 4;

// The float64 column of a candidates search's result (text_stats set): each row's BM25 score,
// null for a row found by the dense side only.
inline constexpr const char* kBm25ScoreColumn = "arbalest.bm25";

// How deep each side of a hybrid search with fusion weight `alpha` ranks: k, or
// max(kHybridDepthFactor * k, ef) when both sides are weighted.
int64_t HybridDepth(const SearchRequest& request, double alpha);

// The fusion weight of `request`: 1 without a text query. Invalid, naming the key, for alpha
// above 1, alpha other than 1 without a text query, a text query with no words, or a request
// without a vector whose alpha is not 0.
arrow::Result<double> HybridAlpha(const SearchRequest& request);

// The hybrid search of `request` (which has a text query) with fusion weight `alpha` (from
// HybridAlpha), as one batch shaped like SearchDataset's but with a nullable distance column.
// Invalid when the dataset has no text columns, and as SearchDataset.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchHybrid(const Dataset& dataset,
                                                                const SearchRequest& request,
                                                                double alpha);

}  // namespace arbalest
