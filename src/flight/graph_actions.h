// DoAction handlers for a dataset's knowledge graph (protocol.md, "Graph"): add-edge,
// traverse-graph, GetGraphStats and GraphSearch (graph_search.h), with the Go system's request and
// answer shapes.
#pragma once

#include <arrow/buffer.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "metrics/server_metrics.h"
#include "store/vector_store.h"

namespace arbalest {

std::vector<arrow::flight::ActionType> GraphActionTypes();

// The result of graph action `type`, or nullopt when `type` is not one. GraphSearch's dense
// search is timed into `metrics` when not null.
std::optional<arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>>> RunGraphAction(
    VectorStore& store, std::string_view type, std::string_view body, ServerMetrics* metrics);

}  // namespace arbalest
