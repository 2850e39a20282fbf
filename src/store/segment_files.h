// The segments' graph files of a snapshot (persist/snapshot_format.h, version 3): one HNSW file
// per segment, without its vectors, which lie in the snapshot's vectors file at the segment's
// vectors_row. Writing: a sealed segment whose graph is fully linked and is still the graph
// object, with the same linked rows, that a file of the previous snapshot holds (the dataset's
// SavedSnapshot::graphs remember which) is hard-linked from it; every other segment's graph
// (the active one, one that gained rows, one a compaction or a merge replaced) is written
// afresh. Loading: each segment's graph file, checked against the manifest, mapped at its
// offset into the vectors file.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "index/hnsw_file.h"
#include "persist/snapshot_format.h"
#include "persist/staging_dir.h"
#include "store/dataset.h"

namespace arbalest {

// The snapshot a new one continues (same generation): its directory and manifest.
struct PreviousSnapshot {
  std::string dir;
  SnapshotManifest manifest;
};

// Hard-links the file `name` of the snapshot directory `dir` into `staging`. IOError names
// both.
arrow::Status LinkSnapshotFile(const std::string& dir, const std::string& name,
                               const StagingDir& staging);

// Rows of a segment's graph that a vectors file of the graph's own rows ("holds": "graph")
// lacks: the segment's graph rows [from, to) go at the file's end.
struct GraphRowsToAppend {
  size_t segment = 0;
  int64_t from = 0;
  int64_t to = 0;
};

// Sets manifest->segments and manifest->indexed_rows from `view`'s segments (taken while the
// dataset's indexing is paused, and still paused: no graph changes meanwhile), linking into
// `staging` the graph files of `previous` that still hold their segment's graph (`saved`: the
// graphs the previous snapshot's files hold, in its segment order) and writing the others.
// manifest->vectors is the vectors file the snapshot starts from (the previous one's, or an
// empty one); for a file of graph rows the rows to append are returned, and the segments'
// vectors_row point where they will be. IOError names a file that could not be written.
arrow::Result<std::vector<GraphRowsToAppend>> SaveSegmentGraphs(
    const DatasetSnapshot& view, const std::optional<PreviousSnapshot>& previous,
    const std::vector<SavedGraph>& saved, const StagingDir& staging, SnapshotManifest* manifest);

// Appends to the vectors file in `dir` (of the graph's own rows) the rows `appends` names, as
// `view`'s segment graphs store them, one chunk. Nothing when `appends` is empty.
arrow::Status AppendGraphRows(const DatasetSnapshot& view,
                              const std::vector<GraphRowsToAppend>& appends, const std::string& dir,
                              SnapshotManifest* manifest);

// What each graph file of `view`'s segments holds once the snapshot is written: the memory of
// the next snapshot's SaveSegmentGraphs (SavedSnapshot::graphs).
std::vector<SavedGraph> SavedGraphsOf(const std::vector<SegmentView>& segments);

// The graph files of the snapshot in `dir`, one per segment (GraphSegments), checked against
// the manifest (size and checksum; IOError or Invalid naming the file), with their vectors
// (null: in the graph file, version 1) at each segment's vectors_row of `vectors`.
struct SegmentGraphFiles {
  std::vector<ExternalVectors> vectors;  // one per segment when the snapshot has a vectors file
  std::vector<DatasetIndex::GraphFile> files;
  std::vector<SegmentGraphFile> segments;
};
arrow::Result<SegmentGraphFiles> OpenSegmentGraphs(const std::string& dir,
                                                   const SnapshotManifest& manifest,
                                                   const ExternalVectors* vectors);

// Checks that the index of `dataset`, loaded from `graphs`, holds each segment's linked rows,
// and cuts the dataset's rows into the manifest's segments (Dataset::RestoreSegments). Invalid
// names the graph file that differs.
arrow::Status RestoreSegments(const SegmentGraphFiles& graphs, int64_t rows, Dataset& dataset);

}  // namespace arbalest
