// The on-disk format of dataset snapshots, in <data dir>/snapshots:
//
//   <dataset>@<lsn>-<n>/    a complete snapshot of <dataset>: every WAL record of the dataset
//                           with LSN <= <lsn> is in it, none after; its graph holds <n> rows
//     MANIFEST.json         describes the snapshot and records each file's size and checksum
//     data.parquet          every row in row order under the snapshot's schema (zstd)
//     index.hnsw            the HNSW graph of rows 0 .. indexed_rows-1 (index/hnsw_file.h)
//     tombstones.roaring    only when rows were deleted: their row numbers as a portable
//                           Roaring bitmap
//     edges.parquet         only when the dataset has graph edges: its live edges
//                           (graph/edge_file.h)
//   <dataset>@staging.tmp/  a snapshot being written, or abandoned by a crash: never read
//   <name>.trash/           a snapshot being removed, or whose removal a crash interrupted:
//                           never read (persist/staging_dir.h)
//
// '@' cannot appear in a dataset name, so the last '@' ends the name. The '/' of a dataset in a
// namespace ("namespace/name") is written '~' in directory names. Of two snapshots of a
// name, the one with the larger (lsn, n) is newer: n grows when only indexing progressed. A
// snapshot is written in its staging directory and renamed into place once every file in it
// is durable (persist/staging_dir.h); the dataset's older snapshot is removed after that.
//
// MANIFEST.json, version 1:
//   {"format_version": 1, "dataset": "docs", "lsn": 1234, "created_lsn": 7,
//    "rows": 200000, "indexed_rows": 199000,
//    "put_schema": "<base64 Arrow IPC schema the dataset was created from>",
//    "schema": "<base64 Arrow IPC schema of the rows (after schema evolution)>",
//    "index": {"metric": "euclidean", "element_type": "float32", "dim": 384, ...},
//    "files": {"data": {"name": "data.parquet", "bytes": 123, "xxh3": "<16 hex digits>"},
//              "index": {...}, "tombstones": {...} (optional), "edges": {...} (optional;
//              absent in manifests written before edges were recorded, whose edges.parquet,
//              when there is one, is read unchecked)}}
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

inline constexpr int kSnapshotFormatVersion = 1;
inline constexpr std::string_view kManifestFile = "MANIFEST.json";
inline constexpr std::string_view kSnapshotDataFile = "data.parquet";
inline constexpr std::string_view kSnapshotIndexFile = "index.hnsw";
inline constexpr std::string_view kSnapshotTombstonesFile = "tombstones.roaring";

// A file of a snapshot directory, as the manifest records it.
struct SnapshotFile {
  std::string name;
  FileDigest digest;
};

struct SnapshotManifest {
  std::string dataset;
  uint64_t lsn = 0;          // the snapshot holds the dataset's records up to this LSN
  uint64_t created_lsn = 0;  // the LSN of the record that created the dataset
  int64_t rows = 0;          // stored rows, deleted ones included
  int64_t indexed_rows = 0;  // rows in the graph: the first indexed_rows rows
  std::shared_ptr<arrow::Schema> put_schema;
  std::shared_ptr<arrow::Schema> schema;
  Json index = Json::object();  // index parameters, for people and tools
  SnapshotFile data;
  SnapshotFile graph;
  std::optional<SnapshotFile> tombstones;
  std::optional<SnapshotFile> edges;  // edges.parquet, when the dataset has graph edges
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

// Writes `manifest` as JSON to `path`.
arrow::Status WriteManifest(const SnapshotManifest& manifest, const std::string& path);

// Reads <dir>/MANIFEST.json. IOError when it cannot be read; Invalid, naming the file and the
// key, when it is not a version-1 manifest.
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
