#include "store/segment_files.h"

#include <arrow/status.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "persist/append_file.h"
#include "persist/file_digest.h"
#include "store/snapshot_rows.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

// The previous snapshot's segment whose files hold `segment`'s first rows: the same graph
// object (by identity: a compaction or a merge makes a new one), which had the linked rows its
// file records then, and no more rows or linked rows than the segment has now.
std::optional<SegmentGraphFile> PreviousFilesOf(const SegmentView& segment,
                                                const std::vector<SegmentGraphFile>& previous,
                                                const std::vector<SavedGraph>& saved) {
  for (size_t j = 0; j < saved.size() && j < previous.size(); ++j) {
    const SegmentGraphFile& files = previous[j];
    if (saved[j].graph.lock() == segment.graph && saved[j].linked_rows == files.linked_rows &&
        files.rows <= segment.rows && files.linked_rows <= segment.indexed_rows) {
      return files;
    }
  }
  return std::nullopt;
}

// A file id above every one of `previous`: a new segment's files never take a linked name.
int64_t NextSegmentId(const std::optional<PreviousSnapshot>& previous) {
  int64_t next = 0;
  if (!previous) return next;
  for (const SegmentGraphFile& segment : previous->manifest.segments) {
    next = std::max(next, segment.id + 1);
  }
  return next;
}

// Links or writes `segment`'s deleted-rows file (none without deleted rows) for its files
// `file`: linked when its files continue `before`'s with as many deleted rows (the set only
// grows while the segment keeps its graph: the same rows), else written.
arrow::Status StartDeletedFile(const SegmentView& segment, size_t index,
                               const std::optional<SegmentGraphFile>& before,
                               const std::optional<PreviousSnapshot>& previous,
                               const StagingDir& staging, SegmentGraphFile* file) {
  file->deleted_rows = static_cast<int64_t>(segment.deleted->size());
  if (file->deleted_rows == 0) return arrow::Status::OK();
  if (before && before->deleted && before->deleted_rows == file->deleted_rows) {
    file->deleted = before->deleted;
    return LinkSnapshotFile(previous->dir, file->deleted->name, staging);
  }
  const std::string name = SegmentDeletedFileName(file->id, file->deleted_rows);
  const std::string path = staging.FilePath(name);
  if (auto written = WriteTombstones(segment.deleted->rows(), path); !written.ok()) {
    return written.WithMessage("segment ", index, ": ", written.message());
  }
  ARROW_ASSIGN_OR_RAISE(FileDigest digest, DigestFile(path));
  file->deleted = SnapshotFile{name, digest};
  return arrow::Status::OK();
}

}  // namespace

std::string SegmentName(size_t index, const SegmentGraphFile& segment) {
  std::string name = "segment " + std::to_string(index);
  if (segment.id >= 0) name += " (seg-" + std::to_string(segment.id) + ")";
  return name;
}

arrow::Status LinkSnapshotFile(const std::string& dir, const std::string& name,
                               const StagingDir& staging) {
  std::error_code error;
  fs::create_hard_link(fs::path(dir) / name, staging.FilePath(name), error);
  if (error) {
    return arrow::Status::IOError("cannot link ", (fs::path(dir) / name).string(), " into ",
                                  staging.FilePath(name), ": ", error.message());
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<SegmentRowsToWrite>> StartSegmentFiles(
    const DatasetSnapshot& view, const std::optional<PreviousSnapshot>& previous,
    const std::vector<SavedGraph>& saved, bool received, const StagingDir& staging,
    SnapshotManifest* manifest) {
  int64_t next_id = NextSegmentId(previous);
  std::vector<SegmentRowsToWrite> writes;
  manifest->segments.clear();
  manifest->rows = view.num_rows;
  manifest->indexed_rows = 0;
  const std::vector<SegmentGraphFile> none;
  const std::vector<SegmentGraphFile>& before_files = previous ? previous->manifest.segments : none;
  for (size_t s = 0; s < view.segments.size(); ++s) {
    const SegmentView& segment = view.segments[s];
    const int64_t linked = segment.indexed_rows;
    if (static_cast<int64_t>(segment.graph->size()) != linked || linked > segment.rows) {
      return arrow::Status::UnknownError("segment ", s, "'s graph holds ", segment.graph->size(),
                                         " rows, ", linked, " linked of its ", segment.rows);
    }
    SegmentGraphFile file{segment.first_row, segment.rows, linked, 0, {}};
    const std::optional<SegmentGraphFile> before = PreviousFilesOf(segment, before_files, saved);
    SegmentRowsToWrite write{s, 0, 0};
    if (before) {  // its files continue: linked, the rows added since appended
      file.id = before->id;
      file.row_files = before->row_files;
      file.vectors = before->vectors;
      for (const RowFile& row_file : before->row_files) {
        ARROW_RETURN_NOT_OK(LinkSnapshotFile(previous->dir, row_file.file.name, staging));
      }
      ARROW_RETURN_NOT_OK(LinkSnapshotFile(previous->dir, before->vectors->name, staging));
      write.rows_from = before->rows;
      write.graph_rows_from = before->linked_rows;
    } else {  // new (or its files cannot be continued): every file afresh, under a new id
      file.id = next_id++;
      file.vectors = VectorsFile{SegmentVectorsFileName(file.id),
                                 0,
                                 static_cast<int64_t>(segment.graph->rows().rows().stride()),
                                 /*graph_only=*/!received,
                                 {}};
      const std::string path = staging.FilePath(file.vectors->name);
      if (!std::ofstream(path, std::ios::binary | std::ios::trunc)) {
        return arrow::Status::IOError("cannot create ", path, " (segment ", s, ")");
      }
    }
    ARROW_RETURN_NOT_OK(StartDeletedFile(segment, s, before, previous, staging, &file));
    if (before && before->linked_rows == linked) {
      file.graph = before->graph;  // the same graph object with the same rows: unchanged
      ARROW_RETURN_NOT_OK(LinkSnapshotFile(previous->dir, file.graph.name, staging));
    } else {
      file.graph.name = SegmentGraphFileName(file.id, linked);
      const std::string path = staging.FilePath(file.graph.name);
      ARROW_RETURN_NOT_OK(segment.graph->Save(path, VectorsPlacement::kSeparateFile));
      ARROW_ASSIGN_OR_RAISE(file.graph.digest, DigestFile(path));
    }
    if (write.rows_from < segment.rows || write.graph_rows_from < linked) {
      writes.push_back(write);
    }
    manifest->indexed_rows += linked;
    manifest->segments.push_back(std::move(file));
  }
  return writes;
}

arrow::Status AppendGraphRows(const SegmentView& segment, int64_t from, const std::string& dir,
                              VectorsFile* vectors) {
  const int64_t to = segment.indexed_rows;
  if (from >= to) return arrow::Status::OK();
  const RecordArena& rows = segment.graph->rows().rows();
  if (static_cast<int64_t>(rows.stride()) != vectors->row_bytes) {
    return arrow::Status::UnknownError("the graph's rows have ", rows.stride(), " bytes, ",
                                       vectors->name, "'s ", vectors->row_bytes);
  }
  ARROW_ASSIGN_OR_RAISE(auto appender, ChunkAppender::Open((fs::path(dir) / vectors->name).string(),
                                                           vectors->bytes()));
  for (int64_t row = from; row < to; ++row) {
    ARROW_RETURN_NOT_OK(appender->Append(std::span<const uint8_t>(
        static_cast<const uint8_t*>(rows.At(static_cast<uint64_t>(row))), rows.stride())));
  }
  ARROW_ASSIGN_OR_RAISE(FileDigest chunk, appender->Finish());
  vectors->chunks.push_back(chunk);
  vectors->rows += to - from;
  return arrow::Status::OK();
}

std::vector<SavedGraph> SavedGraphsOf(const std::vector<SegmentView>& segments) {
  std::vector<SavedGraph> graphs;
  graphs.reserve(segments.size());
  for (const SegmentView& segment : segments) {
    graphs.push_back({segment.graph, segment.indexed_rows});
  }
  return graphs;
}

arrow::Result<Roaring> ReadDeletedRows(const std::string& dir, const SnapshotManifest& manifest) {
  if (manifest.format_version() < kSegmentDeletedFormatVersion) {  // one file, dataset numbering
    if (!manifest.tombstones) return Roaring();
    ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, *manifest.tombstones));
    const std::string path = (fs::path(dir) / manifest.tombstones->name).string();
    ARROW_ASSIGN_OR_RAISE(Roaring deleted, ReadTombstones(path));
    if (!deleted.isEmpty() && deleted.maximum() >= static_cast<uint64_t>(manifest.rows)) {
      return arrow::Status::Invalid("tombstones file ", path, " deletes row ", deleted.maximum(),
                                    ", but the snapshot has ", manifest.rows, " rows");
    }
    return deleted;
  }
  Roaring deleted;
  for (size_t s = 0; s < manifest.segments.size(); ++s) {
    const SegmentGraphFile& segment = manifest.segments[s];
    if (!segment.deleted) continue;
    const std::string path = (fs::path(dir) / segment.deleted->name).string();
    const auto read = [&]() -> arrow::Result<Roaring> {
      ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, *segment.deleted));
      ARROW_ASSIGN_OR_RAISE(Roaring rows, ReadTombstones(path));
      if (rows.cardinality() != static_cast<uint64_t>(segment.deleted_rows) ||
          (!rows.isEmpty() && rows.maximum() >= segment.rows)) {
        return arrow::Status::Invalid("deleted-rows file ", path, " holds ", rows.cardinality(),
                                      " rows up to row ", rows.isEmpty() ? 0 : rows.maximum(),
                                      "; the manifest says ", segment.deleted_rows,
                                      " of the segment's ", segment.rows);
      }
      return rows;
    };
    arrow::Result<Roaring> local = read();
    if (!local.ok()) {
      return local.status().WithMessage(SegmentName(s, segment), ": ", local.status().message());
    }
    deleted |= ShiftedRows(*local, segment.first_row);
  }
  return deleted;
}

arrow::Result<SegmentGraphFiles> OpenSegmentGraphs(const std::string& dir,
                                                   const SnapshotManifest& manifest,
                                                   const ExternalVectors* vectors) {
  SegmentGraphFiles graphs;
  graphs.segments = GraphSegments(manifest);
  graphs.vectors.reserve(graphs.segments.size());  // `files` point into it
  for (size_t s = 0; s < graphs.segments.size(); ++s) {
    const SegmentGraphFile& segment = graphs.segments[s];
    if (auto verified = VerifySnapshotFile(dir, segment.graph); !verified.ok()) {
      return verified.WithMessage(SegmentName(s, segment), ": ", verified.message());
    }
    DatasetIndex::GraphFile file{(fs::path(dir) / segment.graph.name).string(), nullptr};
    if (segment.vectors) {  // version 4: the segment's own vectors file
      auto mapped = MapVectors(dir, *segment.vectors);
      if (!mapped.ok()) {
        return mapped.status().WithMessage(SegmentName(s, segment), ": ",
                                           mapped.status().message());
      }
      file.vectors = &graphs.vectors.emplace_back(std::move(*mapped));
    } else if (vectors != nullptr) {
      // ReadManifest checked that the segment's rows lie inside the file.
      ExternalVectors& at = graphs.vectors.emplace_back(*vectors);
      const auto skipped = static_cast<uint64_t>(segment.vectors_row);
      at.rows = vectors->rows - std::min(vectors->rows, skipped);
      if (at.data != nullptr) at.data += skipped * vectors->row_bytes;
      file.vectors = &at;
    }
    graphs.files.push_back(std::move(file));
  }
  return graphs;
}

arrow::Status RestoreSegments(const SegmentGraphFiles& graphs, int64_t rows, Dataset& dataset) {
  const std::vector<DatasetIndex::SegmentGraph> loaded = dataset.index().Graphs();
  std::vector<int64_t> firsts;
  for (size_t s = 0; s < graphs.segments.size(); ++s) {
    const SegmentGraphFile& segment = graphs.segments[s];
    if (s >= loaded.size() || loaded[s].indexed_rows != segment.linked_rows) {
      return arrow::Status::Invalid(SegmentName(s, segment), ": HNSW index file ",
                                    graphs.files[s].path, " holds ",
                                    s < loaded.size() ? loaded[s].indexed_rows : 0,
                                    " rows, its manifest says ", segment.linked_rows);
    }
    firsts.push_back(segment.first_row);
  }
  dataset.RestoreSegments(std::move(firsts), rows);
  return arrow::Status::OK();
}

}  // namespace arbalest
