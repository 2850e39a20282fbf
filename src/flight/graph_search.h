// Graph-aware retrieval. The dense top-k of a search, expanded by each hit's graph
// neighbourhood (hops, predicates, decay, weights), fused into one ranking whose entries carry
// the path that brought them in (protocol.md, "Graph-aware search"): the GraphSearch action,
// and Longbow's `graph_alpha` search key, which any search form takes and which answers the
// fused ranking in that form's usual result table.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <string_view>

#include "common/json_util.h"
#include "metrics/server_metrics.h"
#include "store/search.h"
#include "store/vector_store.h"

namespace arbalest {

// The most hops a graph-aware search expands its hits by.
inline constexpr int kMaxGraphSearchHops = 4;

// Body: the search keys of VectorSearch (one query vector) plus "graph": {"max_hops" (1),
// "predicates", "decay" (0.5), "weighted" (true), "incoming" (false), "alpha" (0.5)}.
// Answer: [{"id", "score", "dense_rank", "dense_score", "path"}, ...], best first, k entries.
arrow::Result<Json> GraphSearch(VectorStore& store, std::string_view body, ServerMetrics* metrics);

// The search `request` (whose `graph` is set: graph_alpha) fused with the dataset's graph as
// GraphSearch fuses (alpha = graph_alpha, max_hops = graph_depth, the other keys their
// defaults), as the search result table of protocol.md: id, score (the fused score), distance
// (the dense distance; null for a row only the graph found), then the requested columns, best
// first. Invalid for a dataset whose ids are not integers.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> GraphExpandedSearch(
    const Dataset& dataset, const SearchRequest& request);

}  // namespace arbalest
