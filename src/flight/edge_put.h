// DoPut of graph edges: a stream of edge batches to the descriptor path [dataset, "edges"]
// (protocol.md, "Graph"). Each batch is one WAL record, acknowledged once durable with
// PutResult metadata {"status": "acked", "edges": n}.
#pragma once

#include <arrow/flight/server.h>
#include <arrow/result.h>

#include <optional>
#include <string>

#include "store/vector_store.h"

namespace arbalest {

inline constexpr char kEdgesPathElement[] = "edges";

// The dataset of a descriptor [dataset, "edges"]; nullopt for any other descriptor.
std::optional<std::string> EdgeDataset(const arrow::flight::FlightDescriptor& descriptor);

// Adds every batch of `reader` to `dataset`'s edges, acking each.
arrow::Status PutEdges(VectorStore& store, const std::string& dataset,
                       arrow::flight::FlightMessageReader& reader,
                       arrow::flight::FlightMetadataWriter& writer);

}  // namespace arbalest
