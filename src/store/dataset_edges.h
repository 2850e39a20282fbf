// A dataset's rows as the nodes of its knowledge graph (graph/dataset_graph.h): the `id` values
// edges name, checked against the live rows; and a snapshot's edges file. Edges name rows by
// id, so a dataset with a graph needs integer ids (int64 or uint64: the server-assigned ones
// qualify); an edge naming an id no live row carries is refused.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <optional>
#include <string>
#include <unordered_set>

#include "graph/edge_file.h"
#include "persist/snapshot_format.h"
#include "store/dataset.h"

namespace arbalest {

// Invalid when the dataset's ids are not integers (graph edges cannot name its rows).
arrow::Status CheckGraphIds(const Dataset& dataset);

// NotFound-like KeyError naming the first subject or object of `edges` (a canonical batch,
// graph/edge_batch.h) that no live row of `view` carries.
arrow::Status CheckEdgeEndpoints(const DatasetSnapshot& view, const arrow::RecordBatch& edges,
                                 const std::string& dataset);

// The ids of the rows `rows` of `view`.
arrow::Result<std::unordered_set<int64_t>> IdsOfRows(const DatasetSnapshot& view,
                                                     const Roaring& rows);

// Whether `id` is carried by a live row of `view`.
arrow::Result<bool> HasLiveId(const DatasetSnapshot& view, int64_t id);

// Writes `view`'s edges to `path`, the kSnapshotEdgesFile of a snapshot being staged; returns
// whether it wrote the file (not without edges).
arrow::Result<bool> SaveEdges(const DatasetSnapshot& view, const std::string& path);

// Loads the edges file of the snapshot directory `dir` into `dataset` (loaded from the same
// snapshot), leaving out edges whose rows are not live (a delete published between the
// snapshot's cut of the rows and of the edges). `recorded`: the file as its manifest records
// it, whose size and checksum are checked first (Invalid naming the file when they differ);
// unset for a manifest written before edges were recorded, whose edges file, if any, is read
// unchecked. A file that does not parse is Invalid naming it too.
arrow::Status LoadEdges(const std::string& dir, const std::optional<SnapshotFile>& recorded,
                        Dataset& dataset);

}  // namespace arbalest
