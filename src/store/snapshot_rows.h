// A snapshot's rows on disk (format: persist/snapshot_format.h, versions 4 and 5): each segment's
// rows added since the previous snapshot written once into a new rows file of the segment and their
// vectors appended to the segment's vectors file; loading them back with the vector column a
// view of the mapped vectors file. Also reads the rows files of versions 2 and 3 (dataset
// numbering, one vectors file) and the single data.parquet of version 1 (the upgrade).
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
#include "store/segment_files.h"

namespace arbalest {

// Whether the graph of `dataset` stores the received vectors byte for byte (not normalized,
// not padded): then the vectors file holds every row's vector and the rows files leave them
// out; otherwise it holds the graph's own rows only (VectorsFile::graph_only).
bool GraphStoresReceivedVectors(const Dataset& dataset);

// Writes what `writes` (StartSegmentFiles) names into the staging directory `dir`: for each,
// the segment's new local rows into one rows file (SegmentRowsFileName, padded to
// view.schema, without the vector column when the segment's vectors file holds every row's
// vector, their vectors then appended to it), or its new graph rows appended to its vectors
// file of graph rows; adds them to the segment in `manifest`. `cancelled` is polled between
// batches (Cancelled). IOError names the file that could not be written.
arrow::Status WriteSegmentRows(const DatasetSnapshot& view,
                               const std::vector<SegmentRowsToWrite>& writes, int vector_column,
                               const std::string& dir, SnapshotManifest* manifest,
                               const std::function<bool()>& cancelled);

// The vectors file of the snapshot in `dir`, mapped and checked against its chunks: what the
// graph and the rows files' vector column point into. IOError or Invalid names the file.
arrow::Result<ExternalVectors> MapVectors(const std::string& dir, const VectorsFile& vectors);

// Appends the rows of the snapshot in `dir` (its segments' rows files, its rows files, or its
// data.parquet) to `dataset`, at the snapshot's LSN, the vector column of files without it a
// view of their segment's vectors file (`segment_vectors`, versions 4 and 5) or of `vectors`
// (versions 2 and 3). Version 4 and 5 rows files are checked against the manifest here; errors
// name the segment and the file. `deleted`: the snapshot's deleted rows (ReadDeletedRows), which
// the caller deletes afterwards; with unique ids their ids take no entry in the id map
// (Dataset::AppendRecovered).
arrow::Status LoadRows(const std::string& dir, const SnapshotManifest& manifest,
                       const ExternalVectors* vectors,
                       const std::vector<ExternalVectors>& segment_vectors, const Roaring& deleted,
                       Dataset& dataset);

}  // namespace arbalest
