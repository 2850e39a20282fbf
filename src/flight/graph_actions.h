// DoAction handlers for a dataset's knowledge graph (protocol.md, "Graph"): add-edge,
// traverse-graph and GetGraphStats, with the Go system's request and answer shapes.
#pragma once

#include <arrow/buffer.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "store/vector_store.h"

namespace arbalest {

std::vector<arrow::flight::ActionType> GraphActionTypes();

// The result of graph action `type`, or nullopt when `type` is not one.
std::optional<arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>>> RunGraphAction(
    VectorStore& store, std::string_view type, std::string_view body);

}  // namespace arbalest
