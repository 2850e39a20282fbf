// A snapshot's edges: edges.parquet in the dataset's snapshot directory, the live edges of the
// snapshot's cut in log order, in EdgeSchema's columns (zstd).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>
#include <string>
#include <vector>

#include "graph/edge_log.h"

namespace arbalest {

inline constexpr char kSnapshotEdgesFile[] = "edges.parquet";

// Writes `cut` to `path` (and fsyncs it). IOError names the file.
arrow::Status WriteEdgeFile(const EdgeCut& cut, const std::string& path);

// The edges of `path` as canonical batches (edge_batch.h). Invalid names the file when it is
// not an edge file.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadEdgeFile(
    const std::string& path);

}  // namespace arbalest
