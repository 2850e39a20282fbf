// The on-disk format of dataset snapshots, in <data dir>/snapshots:
//
//   <dataset>@<lsn>-<n>/    a complete snapshot of <dataset>: every WAL record of the dataset
//                           with LSN <= <lsn> is in it, none after; its graph holds <n> rows
//     MANIFEST.json         describes the snapshot and records each file's size and checksum
//     rows-<g>-<first>-<count>.parquet
//                           rows [first, first + count) under the schema of the moment they
//                           were written (zstd); without the vector column when the vectors
//                           file holds the vectors. Written once, by the snapshot that first
//                           held those rows, and hard-linked into each later snapshot directory
//     vectors-<g>.bin       the graph's vectors, as it stores them (row_bytes each, back to
//                           back): append-only, one file per generation <g>, hard-linked from
//                           one snapshot directory into the next, each manifest recording how
//                           many of its bytes it owns (later bytes belong to a snapshot not
//                           finished or not yet written, and are ignored) and a checksum per
//                           append (per chunk). "holds": "rows": every row's vector, rows not
//                           in the graph yet included (the graph stores the received bytes;
//                           the rows files leave the vector column out). "holds": "graph":
//                           the rows in the graph only (cosine over floats normalizes them,
//                           or rows are padded): the rows files keep the received vectors
//     graph-<n>.hnsw        one per segment (store/segment.h): the HNSW graph of the segment's
//                           first linked_rows rows (index/hnsw_file.h), without its vectors
//                           (HNSW file version 3), which lie in the vectors file from the
//                           segment's vectors_row on. Rewritten by each snapshot while the
//                           segment is active or its graph changed; a sealed segment's file
//                           whose graph is unchanged since is hard-linked forward instead. <n>
//                           is larger than the number of every graph file the previous
//                           snapshot of the generation named, so a new file never takes the
//                           name of a linked one
//     index.hnsw            version 2: the one graph, of rows 0 .. indexed_rows-1
//     tombstones.roaring    only when rows were deleted: their row numbers as a portable
//                           Roaring bitmap
//     edges.parquet         only when the dataset has graph edges: its live edges
//                           (graph/edge_file.h)
//   <dataset>@staging.tmp/  a snapshot being written, or abandoned by a crash: never read
//   <name>.trash/           a snapshot being removed, or whose removal a crash interrupted:
//                           never read (persist/staging_dir.h)
//
// A generation <g> is the LSN of the snapshot that wrote all of its rows afresh: the first
// snapshot of a dataset, the first after a compaction renumbered its rows, the first after an
// upgrade from format version 1, and any after a snapshot that failed half-way. A snapshot in
// the same generation writes only the rows added since the previous one (one new rows file,
// their vectors appended), the graphs of the segments that changed, the tombstones and the
// manifest, so the bytes written per byte ingested stay flat as the dataset grows.
//
// '@' cannot appear in a dataset name, so the last '@' ends the name. The '/' of a dataset in a
// namespace ("namespace/name") is written '~' in directory names. Of two snapshots of a
// name, the one with the larger (lsn, n) is newer: n grows when only indexing progressed. A
// snapshot is written in its staging directory and renamed into place once every file in it
// is durable (persist/staging_dir.h); the dataset's older snapshot is removed after that (its
// hard links go; the files the new snapshot links stay).
//
// MANIFEST.json, version 3:
//   {"format_version": 3, "dataset": "docs", "lsn": 1234, "created_lsn": 7,
//    "rows": 200000, "indexed_rows": 199000, "generation": 900,
//    "put_schema": "<base64 Arrow IPC schema the dataset was created from>",
//    "schema": "<base64 Arrow IPC schema of the rows (after schema evolution)>",
//    "index": {"metric": "euclidean", "element_type": "float32", "dim": 384, ...},
//    "segments": [{"first_row": 0, "rows": 150000, "linked_rows": 150000,
//                  "vectors_row": 0,
//                  "graph": {"name": "graph-0.hnsw", "bytes": 123, "xxh3": "<16 hex digits>"}},
//                 ...],   in row order, together every row; linked_rows add up to
//                         indexed_rows. "holds": "rows": vectors_row is first_row; "graph":
//                         the segment's linked rows lie at [vectors_row, vectors_row +
//                         linked_rows) of the vectors file (a segment's rows are appended
//                         where they continue its rows already in the file, else afresh at
//                         the end, leaving the older copy unused)
//    "files": {"rows": [{"name": ..., "bytes": ..., "xxh3": ..., "first_row": 0,
//                        "rows": 150000, "vectors": false, "schema": "<base64>"}, ...],
//              "vectors": {"name": "vectors-900.bin", "rows": 200000, "row_bytes": 1536,
//                          "holds": "rows" (or "graph"),
//                          "chunks": [{"bytes": 230400000, "xxh3": ...}, ...]},
//              "tombstones": {...} (optional), "edges": {...} (optional; absent in
//              manifests written before edges were recorded, whose edges.parquet, when
//              there is one, is read unchecked)}}
// Version 2 (written by earlier builds, still read: one segment): no "segments"; instead
// "files" holds "index": {"name": "index.hnsw", "bytes", "xxh3"}, the one graph, of rows
// 0 .. indexed_rows-1, its vectors from row 0 of the vectors file.
// Version 1 (still read): as version 2, but no "generation", and instead of "rows" and
// "vectors" one "data" file, data.parquet, holding every row with its vector (the graph file
// holds its vectors too).
// A reader that finds an unknown format_version refuses the snapshot.
#pragma once

#include <arrow/result.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <roaring/roaring.hh>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "persist/file_digest.h"

namespace arbalest {

inline constexpr int kSnapshotFormatVersion = 3;
inline constexpr int kOneGraphSnapshotFormatVersion = 2;  // index.hnsw; read, written by tests
inline constexpr int kLegacySnapshotFormatVersion = 1;    // data.parquet; read, written by tests
inline constexpr std::string_view kManifestFile = "MANIFEST.json";
inline constexpr std::string_view kSnapshotDataFile = "data.parquet";
inline constexpr std::string_view kSnapshotIndexFile = "index.hnsw";
inline constexpr std::string_view kSnapshotTombstonesFile = "tombstones.roaring";

// A file of a snapshot directory, as the manifest records it.
struct SnapshotFile {
  std::string name;
  FileDigest digest;
};

// A rows file (versions 2 and 3): rows [first_row, first_row + rows) of the dataset.
struct RowFile {
  SnapshotFile file;
  int64_t first_row = 0;
  int64_t rows = 0;
  bool has_vectors = true;                // false: the vectors file holds this file's vectors
  std::shared_ptr<arrow::Schema> schema;  // the file's (without the vector column if so)
};

// The vectors file (versions 2 and 3): its first rows x row_bytes bytes belong to the snapshot,
// appended in `chunks` (the first chunk at offset 0, each next one after it).
struct VectorsFile {
  std::string name;
  int64_t rows = 0;
  int64_t row_bytes = 0;
  // false: every row's received vector (the graph stores them as received; rows files leave
  // the vector column out). true: the graph's own rows (normalized or padded), only the rows
  // in the graph; the rows files keep the received vectors.
  bool graph_only = false;
  std::vector<FileDigest> chunks;

  int64_t bytes() const { return rows * row_bytes; }
};

// A segment's graph file (version 3): the segment holds rows [first_row, first_row + rows),
// its graph the first linked_rows of them, their vectors at vectors_row of the vectors file.
struct SegmentGraphFile {
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t linked_rows = 0;
  int64_t vectors_row = 0;
  SnapshotFile graph;
};

struct SnapshotManifest {
  std::string dataset;
  uint64_t lsn = 0;          // the snapshot holds the dataset's records up to this LSN
  uint64_t created_lsn = 0;  // the LSN of the record that created the dataset
  int64_t rows = 0;          // stored rows, deleted ones included
  int64_t indexed_rows = 0;  // rows in the graph: the first indexed_rows rows
  std::shared_ptr<arrow::Schema> put_schema;
  std::shared_ptr<arrow::Schema> schema;
  Json index = Json::object();         // index parameters, for people and tools
  uint64_t generation = 0;             // version 2+: the LSN of the snapshot that began its files
  std::optional<SnapshotFile> data;    // version 1 only: every row, vectors included
  std::vector<RowFile> row_files;      // version 2+: in row order, together every row
  std::optional<VectorsFile> vectors;  // version 2+, when the graph's vectors live apart
  std::vector<SegmentGraphFile> segments;  // version 3 (GraphSegments reads every version)
  SnapshotFile graph;                      // versions 1 and 2: the one graph file
  std::optional<SnapshotFile> tombstones;
  std::optional<SnapshotFile> edges;  // edges.parquet, when the dataset has graph edges

  int format_version() const {
    if (data) return kLegacySnapshotFormatVersion;
    return segments.empty() ? kOneGraphSnapshotFormatVersion : kSnapshotFormatVersion;
  }
};

// The segments of `manifest`: its list (version 3), or one segment of every row whose graph
// is the one graph file (versions 1 and 2).
std::vector<SegmentGraphFile> GraphSegments(const SnapshotManifest& manifest);

// "graph-<number>.hnsw"; the number of such a name (nullopt for other names).
std::string GraphFileName(int64_t number);
std::optional<int64_t> GraphFileNumber(std::string_view name);

// "<dataset>@<lsn>-<indexed_rows>".
std::string SnapshotDirName(std::string_view dataset, uint64_t lsn, int64_t indexed_rows);

// "<dataset>@staging.tmp".
std::string SnapshotStagingName(std::string_view dataset);

struct SnapshotDirEntry {
  std::string dataset;
  uint64_t lsn = 0;
  int64_t indexed_rows = 0;
  std::string path;
};

struct SnapshotListing {
  std::vector<SnapshotDirEntry> complete;  // sorted by dataset, then age (oldest first)
  std::vector<std::string> staging;        // paths of staging directories
  std::vector<std::string> trash;          // paths of directories being removed
};

// The snapshot directories in `root` (none when it does not exist). Other entries are ignored.
arrow::Result<SnapshotListing> ListSnapshotDirs(const std::string& root);

// "rows-<generation>-<first_row>-<rows>.parquet" and "vectors-<generation>.bin".
std::string RowFileName(uint64_t generation, int64_t first_row, int64_t rows);
std::string VectorsFileName(uint64_t generation);

// Writes `manifest` as JSON to `path`, of its format_version(): 1 and 2 for tests of the
// upgrade.
arrow::Status WriteManifest(const SnapshotManifest& manifest, const std::string& path);

// Reads <dir>/MANIFEST.json. IOError when it cannot be read; Invalid, naming the file and the
// key, when it is not a manifest of version 1 to 3, its rows files or segments do not cover
// rows 0 .. rows-1 in order, or a segment's vectors lie outside the vectors file.
arrow::Result<SnapshotManifest> ReadManifest(const std::string& dir);

// Writes `rows` to a tombstones file at `path`: deleted row numbers as a portable Roaring
// bitmap. IOError names the file.
arrow::Status WriteTombstones(const Roaring& rows, const std::string& path);

// Reads a tombstones file. IOError when it cannot be read, Invalid naming the file when it does
// not parse.
arrow::Result<Roaring> ReadTombstones(const std::string& path);

// Checks that `file` in `dir` has the size and checksum the manifest recorded. IOError when it
// is missing or unreadable, Invalid when it differs; both name the file.
arrow::Status VerifySnapshotFile(const std::string& dir, const SnapshotFile& file);

}  // namespace arbalest
