// A snapshot's rows on disk (format: persist/snapshot_format.h, version 2): the rows added
// since the previous snapshot written once into a new rows file and their vectors appended to
// the generation's vectors file; loading them back with the vector column a view of the mapped
// vectors file. Also reads the single data.parquet of a version-1 snapshot (the upgrade).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "index/hnsw_file.h"
#include "persist/snapshot_format.h"
#include "store/dataset.h"

namespace arbalest {

// Whether the graph of `dataset` stores the received vectors byte for byte (not normalized,
// not padded): then the vectors file holds every row's vector and the rows files leave them
// out; otherwise it holds the graph's own rows only (VectorsFile::graph_only).
bool GraphStoresReceivedVectors(const Dataset& dataset);

// Writes rows [manifest->rows, view.num_rows) of `view` in the staging directory `dir`: one
// rows file (RowFileName, padded to view.schema, without the vector column when the vectors
// file holds every row's vector) and then their vectors appended to that vectors file, already
// linked into `dir`; adds both to `manifest` and sets manifest->rows. `cancelled` is polled
// between batches (Cancelled). IOError names the file that could not be written.
arrow::Status WriteNewRows(const DatasetSnapshot& view, int vector_column, const std::string& dir,
                           SnapshotManifest* manifest, const std::function<bool()>& cancelled);

// The vectors file of the snapshot in `dir`, mapped and checked against its chunks: what the
// graph and the rows files' vector column point into. IOError or Invalid names the file.
arrow::Result<ExternalVectors> MapVectors(const std::string& dir, const VectorsFile& vectors);

// Appends the rows of the snapshot in `dir` (its rows files, or its data.parquet) to
// `dataset`, at the snapshot's LSN, the vector column of files without it a view of `vectors`.
arrow::Status LoadRows(const std::string& dir, const SnapshotManifest& manifest,
                       const ExternalVectors* vectors, Dataset& dataset);

}  // namespace arbalest
