// GraphSearch: graph-aware retrieval. The dense top-k of a search, expanded by each hit's graph
// neighbourhood (hops, predicates, decay, weights), fused into one ranking whose entries carry
// the path that brought them in (protocol.md, "Graph-aware search").
#pragma once

#include <arrow/result.h>

#include <string_view>

#include "common/json_util.h"
#include "metrics/server_metrics.h"
#include "store/vector_store.h"

namespace arbalest {

// Body: the search keys of VectorSearch (one query vector) plus "graph": {"max_hops" (1),
// "predicates", "decay" (0.5), "weighted" (true), "incoming" (false), "alpha" (0.5)}.
// Answer: [{"id", "score", "dense_rank", "dense_score", "path"}, ...], best first, k entries.
arrow::Result<Json> GraphSearch(VectorStore& store, std::string_view body, ServerMetrics* metrics);

}  // namespace arbalest
