// The segments' files of a snapshot (persist/snapshot_format.h, version 5): per segment, its
// rows files and vectors file in its local numbering, its graph file (without its vectors,
// which are the segment's vectors file) and its deleted-rows file, named by the segment's file
// id. Writing: a segment
// whose graph is still the graph object that a segment of the previous snapshot held, with at
// least the rows and linked rows its files hold (the dataset's SavedSnapshot::graphs remember
// which), keeps those files (hard links), its new rows written into a new rows file and their
// vectors appended; its graph file is linked too when the graph has the same linked rows,
// else rewritten; its deleted-rows file is linked while it has as many deleted rows (a
// segment's set only grows while it keeps its graph), else written. Every other segment (the first
// snapshot's, one a compaction or a merge replaced) gets a new file id and all its files written
// afresh. Loading: each segment's graph, vectors and deleted-rows files checked against the
// manifest, the first two mapped, errors naming the segment and the file.
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

// The snapshot a new one continues (version 4 or 5, the newest on disk): its directory and
// manifest.
struct PreviousSnapshot {
  std::string dir;
  SnapshotManifest manifest;
};

// Hard-links the file `name` of the snapshot directory `dir` into `staging`. IOError names
// both.
arrow::Status LinkSnapshotFile(const std::string& dir, const std::string& name,
                               const StagingDir& staging);

// "segment <index> (seg-<id>)": how errors name a segment of `manifest`.
std::string SegmentName(size_t index, const SegmentGraphFile& segment);

// What a snapshot writes of a segment besides the files it links: its local rows
// [rows_from, rows) into a new rows file (with their vectors appended when its vectors file
// holds every row), and, when its vectors file holds the graph's rows, the graph's rows
// [graph_rows_from, linked rows) appended.
struct SegmentRowsToWrite {
  size_t segment = 0;
  int64_t rows_from = 0;
  int64_t graph_rows_from = 0;
};

// Sets manifest->segments, rows and indexed_rows from `view`'s segments (taken while the
// dataset's indexing is paused, and still paused: no graph changes meanwhile): links into
// `staging` the files of `previous`'s segments that still hold a segment's rows (`saved`: the
// graphs the previous snapshot's files hold, in its segment order), creates the empty vectors
// file of each new segment (of every row's received vector when `received`, else of the
// graph's rows), writes the graph files that changed, and returns the rows to write
// (WriteSegmentRows). IOError names a file that could not be linked or written.
arrow::Result<std::vector<SegmentRowsToWrite>> StartSegmentFiles(
    const DatasetSnapshot& view, const std::optional<PreviousSnapshot>& previous,
    const std::vector<SavedGraph>& saved, bool received, const StagingDir& staging,
    SnapshotManifest* manifest);

// Appends `segment`'s graph rows [from, linked rows) to `vectors` (a file of graph rows) in
// `dir`, as the graph stores them, one chunk. Nothing when there are none.
arrow::Status AppendGraphRows(const SegmentView& segment, int64_t from, const std::string& dir,
                              VectorsFile* vectors);

// What each graph file of `view`'s segments holds once the snapshot is written: the memory of
// the next snapshot's SaveSegmentGraphs (SavedSnapshot::graphs).
std::vector<SavedGraph> SavedGraphsOf(const std::vector<SegmentView>& segments);

// The deleted rows of the snapshot in `dir` as dataset rows: version 5, each segment's
// deleted-rows file checked against the manifest and read (IOError or Invalid naming the
// segment and the file; Invalid when it names a row past the segment's); versions 1 to 4, the
// tombstones file (dataset numbering).
arrow::Result<Roaring> ReadDeletedRows(const std::string& dir, const SnapshotManifest& manifest);

// The graph files of the snapshot in `dir`, one per segment (GraphSegments), checked against
// the manifest (size and checksum; IOError or Invalid naming the segment and the file), with
// their vectors: versions 4 and 5, each segment's vectors file, mapped and checked; versions 2 and
// 3, at each segment's vectors_row of `vectors`; version 1 (null `vectors`), in the graph file.
struct SegmentGraphFiles {
  std::vector<ExternalVectors> vectors;  // one per segment when the snapshot has vectors files
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
