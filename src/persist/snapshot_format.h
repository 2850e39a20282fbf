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
//     index.hnsw            the HNSW graph of rows 0 .. indexed_rows-1 (index/hnsw_file.h),
//                           without its vectors (version 3): rewritten by every snapshot
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
// their vectors appended), the graph, the tombstones and the manifest, so the bytes written
// per byte ingested stay flat as the dataset grows.
//
// '@' cannot appear in a dataset name, so the last '@' ends the name. The '/' of a dataset in a
// namespace ("namespace/name") is written '~' in directory names. Of two snapshots of a
// name, the one with the larger (lsn, n) is newer: n grows when only indexing progressed. A
// snapshot is written in its staging directory and renamed into place once every file in it
// is durable (persist/staging_dir.h); the dataset's older snapshot is removed after that (its
// hard links go; the files the new snapshot links stay).
//
// MANIFEST.json, version 2:
//   {"format_version": 2, "dataset": "docs", "lsn": 1234, "created_lsn": 7,
//    "rows": 200000, "indexed_rows": 199000, "generation": 900,
//    "put_schema": "<base64 Arrow IPC schema the dataset was created from>",
//    "schema": "<base64 Arrow IPC schema of the rows (after schema evolution)>",
//    "index": {"metric": "euclidean", "element_type": "float32", "dim": 384, ...},
//    "files": {"index": {"name": "index.hnsw", "bytes": 123, "xxh3": "<16 hex digits>"},
//              "rows": [{"name": ..., "bytes": ..., "xxh3": ..., "first_row": 0,
//                        "rows": 150000, "vectors": false, "schema": "<base64>"}, ...],
//              "vectors": {"name": "vectors-900.bin", "rows": 200000, "row_bytes": 1536,
//                          "holds": "rows" (or "graph"),
//                          "chunks": [{"bytes": 230400000, "xxh3": ...}, ...]},
//              "tombstones": {...} (optional), "edges": {...} (optional; absent in
//              manifests written before edges were recorded, whose edges.parquet, when
//              there is one, is read unchecked)}}
// Version 1 (written by earlier builds, still read): no "generation", and instead of "rows"
// and "vectors" one "data" file, data.parquet, holding every row with its vector.
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

inline constexpr int kSnapshotFormatVersion = 2;
inline constexpr int kLegacySnapshotFormatVersion = 1;  // data.parquet; read, never written
inline constexpr std::string_view kManifestFile = "MANIFEST.json";
inline constexpr std::string_view kSnapshotDataFile = "data.parquet";
inline constexpr std::string_view kSnapshotIndexFile = "index.hnsw";
inline constexpr std::string_view kSnapshotTombstonesFile = "tombstones.roaring";

// A file of a snapshot directory, as the manifest records it.
struct SnapshotFile {
  std::string name;
  FileDigest digest;
};

// A rows file (version 2): rows [first_row, first_row + rows) of the dataset.
struct RowFile {
  SnapshotFile file;
  int64_t first_row = 0;
  int64_t rows = 0;
  bool has_vectors = true;                // false: the vectors file holds this file's vectors
  std::shared_ptr<arrow::Schema> schema;  // the file's (without the vector column if so)
};

// The vectors file (version 2): its first rows x row_bytes bytes belong to the snapshot,
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

struct SnapshotManifest {
  std::string dataset;
  uint64_t lsn = 0;          // the snapshot holds the dataset's records up to this LSN
  uint64_t created_lsn = 0;  // the LSN of the record that created the dataset
  int64_t rows = 0;          // stored rows, deleted ones included
  int64_t indexed_rows = 0;  // rows in the graph: the first indexed_rows rows
  std::shared_ptr<arrow::Schema> put_schema;
  std::shared_ptr<arrow::Schema> schema;
  Json index = Json::object();         // index parameters, for people and tools
  uint64_t generation = 0;             // version 2: the LSN of the snapshot that began its files
  std::optional<SnapshotFile> data;    // version 1 only: every row, vectors included
  std::vector<RowFile> row_files;      // version 2: in row order, together every row
  std::optional<VectorsFile> vectors;  // version 2, when the graph's vectors live apart
  SnapshotFile graph;
  std::optional<SnapshotFile> tombstones;
  std::optional<SnapshotFile> edges;  // edges.parquet, when the dataset has graph edges

  int format_version() const {
    return data ? kLegacySnapshotFormatVersion : kSnapshotFormatVersion;
  }
};

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

// Writes `manifest` as JSON to `path`: version 1 when it has a `data` file (tests of the
// upgrade), else version 2.
arrow::Status WriteManifest(const SnapshotManifest& manifest, const std::string& path);

// Reads <dir>/MANIFEST.json. IOError when it cannot be read; Invalid, naming the file and the
// key, when it is not a version-1 or version-2 manifest, or its rows files do not cover rows
// 0 .. rows-1 in order.
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
