// The on-disk format of dataset snapshots, in <data dir>/snapshots:
//
//   <dataset>@<lsn>-<n>[-<layout>]/
//                           a complete snapshot of <dataset>: every WAL record of the dataset
//                           with LSN <= <lsn> is in it, none after; its graphs hold <n> rows;
//                           its segments are those of the dataset's layout generation <layout>
//                           (omitted when 0, and in names written before version 5: a merge
//                           changes the segments without logging anything, so the name must
//                           change with the layout for the snapshot after a merge to be newer)
//     MANIFEST.json         describes the snapshot and records each file's size and checksum
//   versions 4 and 5: each segment (store/segment.h) has its own files, in its local numbering,
//   named by the segment's file id <id> (given when the segment's files are first written, never
//   changed while the segment keeps its rows; a segment a compaction or a merge replaced gets a
//   new id). They do not depend on where the segment starts in the dataset, so a segment's
//   files are hard-linked from one snapshot directory into the next for as long as its rows
//   stay, whatever a compaction or a merge did to the segments before it:
//     seg-<id>-rows-<first>-<count>.parquet
//                           the segment's local rows [first, first + count) under the schema of
//                           the moment they were written (zstd); without the vector column when
//                           the vectors file holds every row's vector. Written once
//     seg-<id>-vectors.bin  the segment's vectors as its graph stores them (row_bytes each,
//                           back to back): append-only (only the active segment's grows), each
//                           manifest recording how many of its bytes it owns (later bytes
//                           belong to a snapshot not finished, and are ignored) and a checksum
//                           per append (chunk). "holds": "rows": every row's vector, rows not in
//                           the graph yet included (the graph stores the received bytes; the
//                           rows files leave the vector column out). "holds": "graph": the
//                           segment's linked rows only (cosine over floats normalizes them, or
//                           rows are padded): the rows files keep the received vectors
//     seg-<id>-graph-<linked>.hnsw
//                           the HNSW graph of the segment's first <linked> rows
//                           (index/hnsw_file.h) without its vectors (HNSW file version 3;
//                           4 with its int8 build range or int8 fallback flag), which are the
//                           segment's vectors
//                           file from its start. Written
//                           again only when the graph linked more rows (or is a new one)
//     seg-<id>-deleted-<count>.roaring
//                           version 5, only for a segment with deleted rows: its <count>
//                           deleted local rows as a portable Roaring bitmap. Written when the
//                           set changed since the previous snapshot, hard-linked otherwise (a
//                           segment's set only grows while it keeps its id, so the same id and
//                           count mean the same rows)
//     gone-keys.roaring     version 6, only when the dataset's row keys have gone keys: them,
//                           as a portable Roaring bitmap (MANIFEST.json's "keys")
//     tombstones.roaring    versions 1 to 4, only when rows were deleted: their dataset row
//                           numbers as a portable Roaring bitmap, rewritten by each snapshot
//     edges.parquet         only when the dataset has graph edges: its live edges
//                           (graph/edge_file.h), rewritten by each snapshot
//   versions 2 and 3 (written by earlier builds, read):
//     rows-<g>-<first>-<count>.parquet
//                           dataset rows [first, first + count), as version 4's rows files
//     vectors-<g>.bin       the dataset's vectors, as version 4's vectors file but for every
//                           segment together, in dataset numbering ("graph": segments' linked
//                           rows at their vectors_row)
//     graph-<n>.hnsw        version 3: one per segment, its vectors at its vectors_row
//     index.hnsw            version 2: the one graph, of rows 0 .. indexed_rows-1
//   <dataset>@staging.tmp/  a snapshot being written, or abandoned by a crash: never read
//   <name>.trash/           a snapshot being removed, or whose removal a crash interrupted:
//                           never read (persist/staging_dir.h)
//
// A snapshot writes, for each segment: nothing but hard links when the segment is sealed and
// unchanged since the previous snapshot (the same graph object with the same rows); the rows
// added since (a new rows file, their vectors appended) and its graph when it grew (the active
// one); every file afresh, under a new id, when it is new (sealed from a new active segment,
// compacted, merged); its deleted-rows file when its deleted rows changed. Then the edges and
// the manifest. When the previous snapshot
// cannot be continued (none, of an older version, or not the newest directory on disk: its
// commit failed after the rename, and appending after its lengths would break the newer
// one; or hard links fail) every segment is written afresh.
//
// '@' cannot appear in a dataset name, so the last '@' ends the name. The '/' of a dataset in a
// namespace ("namespace/name") is written '~' in directory names. Of two snapshots of a
// name, the one with the larger (lsn, layout, n) is newer (n grows as indexing goes on). A
// snapshot is written in its staging directory and renamed into place once every file in it
// is durable (persist/staging_dir.h); the dataset's older snapshot is removed after that (its
// hard links go; the files the new snapshot links stay).
//
// MANIFEST.json, version 6:
//   {"format_version": 6, "dataset": "docs", "lsn": 1234, "created_lsn": 7, "layout": 2,
//    "keys": {"next": 200500, "gone": 500,
//             "file": {"name": "gone-keys.roaring", "bytes": ..., "xxh3": ...} (only when
//                      "gone" is not 0)},
//    "rows": 200000, "indexed_rows": 199000,
//    "put_schema": "<base64 Arrow IPC schema the dataset was created from>",
//    "schema": "<base64 Arrow IPC schema of the rows (after schema evolution)>",
//    "index": {"metric": "euclidean", "element_type": "float32", "dim": 384, ...},
//    "segments": [{"id": 3, "first_row": 0, "rows": 150000, "linked_rows": 150000,
//                  "graph": {"name": "seg-3-graph-150000.hnsw", "bytes": 123,
//                            "xxh3": "<16 hex digits>"},
//                  "files": {"rows": [{"name": "seg-3-rows-0-150000.parquet", "bytes": ...,
//                                      "xxh3": ..., "first_row": 0 (local), "rows": 150000,
//                                      "vectors": false, "schema": "<base64>"}, ...],
//                            "vectors": {"name": "seg-3-vectors.bin", "rows": 150000,
//                                        "row_bytes": 1536, "holds": "rows" (or "graph"),
//                                        "chunks": [{"bytes": ..., "xxh3": ...}, ...]},
//                            "deleted": {"name": "seg-3-deleted-12.roaring", "bytes": ...,
//                                        "xxh3": ..., "rows": 12} (only with deleted rows)}},
//                 ...],   in row order, together every row (each first_row is recorded
//                         afresh by each snapshot); linked_rows add up to indexed_rows; ids
//                         distinct. "holds": "rows": the vectors file holds the segment's
//                         rows; "graph": its linked_rows
//    "files": {"edges": {...} (optional)}}
// "keys" are the dataset's row keys (store/row_keys.h), which the log's records of version 2
// name rows by (persist/wal_format.h): "next" = "rows" + "gone", the file the gone keys as a
// portable Roaring bitmap, written by each snapshot whose dataset has any.
// Version 5: as version 6 without "keys" (loaded as key = row: only records naming rows by
// number follow such a snapshot in the log).
// Version 4: as version 5 without "layout" and the segments' "deleted"; "files" may hold
// "tombstones" (dataset numbering).
// Version 3: a "generation" <g>; "files" holds "rows" (dataset numbering) and "vectors" (the
// one vectors file); segments have first_row, rows, linked_rows, vectors_row and graph.
// Version 2: as version 3 without "segments"; "files" holds "index": {"name": "index.hnsw",
// "bytes", "xxh3"}, the one graph, of rows 0 .. indexed_rows-1, its vectors from row 0 of the
// vectors file. Edges may be absent in manifests written before edges were recorded (an
// edges.parquet is then read unchecked).
// Version 1: as version 2, but no "generation", and instead of "rows" and "vectors" one "data"
// file, data.parquet, holding every row with its vector (the graph file holds its vectors too).
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

inline constexpr int kSnapshotFormatVersion = 6;
inline constexpr int kSegmentDeletedFormatVersion = 5;    // no row keys; read, by tests
inline constexpr int kSegmentFilesFormatVersion = 4;      // one tombstones file; read, by tests
inline constexpr int kSegmentGraphsFormatVersion = 3;     // one vectors file; read, by tests
inline constexpr int kOneGraphSnapshotFormatVersion = 2;  // index.hnsw; read, written by tests
inline constexpr int kLegacySnapshotFormatVersion = 1;    // data.parquet; read, written by tests
inline constexpr std::string_view kManifestFile = "MANIFEST.json";
inline constexpr std::string_view kSnapshotDataFile = "data.parquet";
inline constexpr std::string_view kSnapshotIndexFile = "index.hnsw";
inline constexpr std::string_view kSnapshotTombstonesFile = "tombstones.roaring";
inline constexpr std::string_view kSnapshotGoneKeysFile = "gone-keys.roaring";

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

// A segment's files (versions 3 and 4): the segment holds rows [first_row, first_row + rows),
// its graph the first linked_rows of them. Version 3: their vectors at vectors_row of the
// snapshot's one vectors file. Version 4: the segment's own rows files and vectors file, in
// its local numbering (local row 0 is dataset row first_row), named by its file id.
struct SegmentGraphFile {
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t linked_rows = 0;
  int64_t vectors_row = 0;  // version 3; 0 in version 4 (the segment's own vectors file)
  SnapshotFile graph;
  int64_t id = -1;                       // version 4: names the segment's files; -1 before
  std::vector<RowFile> row_files{};      // version 4: local rows 0 .. rows-1, in order
  std::optional<VectorsFile> vectors{};  // version 4: every row's vector, or the linked ones
  // Version 5: the segment's deleted local rows (none: no file), and how many.
  std::optional<SnapshotFile> deleted{};
  int64_t deleted_rows = 0;
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
  std::vector<RowFile> row_files;      // versions 2 and 3: in row order, together every row
  std::optional<VectorsFile> vectors;  // versions 2 and 3, when the graph's vectors live apart
  std::vector<SegmentGraphFile> segments;  // versions 3 and 4 (GraphSegments reads every one)
  SnapshotFile graph;                      // versions 1 and 2: the one graph file
  std::optional<SnapshotFile> tombstones;  // versions 1 to 4
  std::optional<SnapshotFile> edges;       // edges.parquet, when the dataset has graph edges
  uint64_t layout = 0;                     // version 5: the dataset's layout generation
  // Version 6: the dataset's row keys (store/row_keys.h) at the cut: the key its next row
  // takes (rows + gone keys) and its gone keys, in a file when there are any. Unset before:
  // key = row.
  std::optional<uint64_t> next_key;
  std::optional<SnapshotFile> gone_keys;
  uint64_t gone_key_count = 0;
  // The version of a manifest whose segments have their own files: 6, or 4 and 5 (read, by
  // tests).
  int segment_files_version = kSnapshotFormatVersion;

  int format_version() const {
    if (data) return kLegacySnapshotFormatVersion;
    if (segments.empty()) return kOneGraphSnapshotFormatVersion;
    return segments.front().id >= 0 ? segment_files_version : kSegmentGraphsFormatVersion;
  }
};

// The segments of `manifest`: its list (version 3), or one segment of every row whose graph
// is the one graph file (versions 1 and 2).
std::vector<SegmentGraphFile> GraphSegments(const SnapshotManifest& manifest);

// "graph-<number>.hnsw"; the number of such a name (nullopt for other names).
std::string GraphFileName(int64_t number);
std::optional<int64_t> GraphFileNumber(std::string_view name);

// "<dataset>@<lsn>-<indexed_rows>", then "-<layout>" when `layout` is not 0.
std::string SnapshotDirName(std::string_view dataset, uint64_t lsn, int64_t indexed_rows,
                            uint64_t layout = 0);

// "<dataset>@staging.tmp".
std::string SnapshotStagingName(std::string_view dataset);

struct SnapshotDirEntry {
  std::string dataset;
  uint64_t lsn = 0;
  int64_t indexed_rows = 0;
  std::string path;
  uint64_t layout = 0;  // 0 when the name has none
};

struct SnapshotListing {
  // Sorted by dataset, then age (oldest first): of two snapshots of a dataset, the one with the
  // larger (lsn, layout, indexed_rows) is newer (a compaction lowers indexed_rows).
  std::vector<SnapshotDirEntry> complete;
  std::vector<std::string> staging;  // paths of staging directories
  std::vector<std::string> trash;    // paths of directories being removed
};

// The snapshot directories in `root` (none when it does not exist). Other entries are ignored.
arrow::Result<SnapshotListing> ListSnapshotDirs(const std::string& root);

// Versions 2 and 3: "rows-<generation>-<first_row>-<rows>.parquet" and
// "vectors-<generation>.bin".
std::string RowFileName(uint64_t generation, int64_t first_row, int64_t rows);
std::string VectorsFileName(uint64_t generation);

// Version 4, the files of the segment of file id <id>: "seg-<id>-rows-<first>-<rows>.parquet"
// (its local rows [first, first + rows)), "seg-<id>-vectors.bin", "seg-<id>-graph-<linked
// rows>.hnsw".
std::string SegmentRowsFileName(int64_t id, int64_t first_row, int64_t rows);
std::string SegmentVectorsFileName(int64_t id);
std::string SegmentGraphFileName(int64_t id, int64_t linked_rows);
// Version 5: "seg-<id>-deleted-<count>.roaring".
std::string SegmentDeletedFileName(int64_t id, int64_t deleted_rows);

// Writes `manifest` as JSON to `path`, of its format_version(): 1 and 2 for tests of the
// upgrade.
arrow::Status WriteManifest(const SnapshotManifest& manifest, const std::string& path);

// Reads <dir>/MANIFEST.json. IOError when it cannot be read; Invalid, naming the file and the
// key, when it is not a manifest of version 1 to 5, its rows files or segments do not cover
// rows 0 .. rows-1 in order, a segment's vectors lie outside the vectors file (version 3), or
// a segment's rows files do not cover its rows or its vectors file holds other than its rows
// (all of them, or its linked ones; version 4; the error names the segment).
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
