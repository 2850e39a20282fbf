#include "store/segment_files.h"

#include <arrow/status.h>

#include <algorithm>
#include <filesystem>
#include <span>

#include "persist/append_file.h"
#include "persist/file_digest.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

// The previous snapshot's file of `graph` (by identity, with the rows it held then), if any.
std::optional<SegmentGraphFile> PreviousFileOf(const std::shared_ptr<const HnswIndex>& graph,
                                               const std::vector<SegmentGraphFile>& previous,
                                               const std::vector<SavedGraph>& saved) {
  for (size_t j = 0; j < saved.size() && j < previous.size(); ++j) {
    if (saved[j].graph.lock() == graph && saved[j].linked_rows == previous[j].linked_rows) {
      return previous[j];
    }
  }
  return std::nullopt;
}

// A number above every graph file's of `previous`: new files never take a linked one's name.
int64_t NextGraphFileNumber(const std::optional<PreviousSnapshot>& previous) {
  int64_t next = 0;
  if (!previous) return next;
  for (const SegmentGraphFile& segment : previous->manifest.segments) {
    if (auto number = GraphFileNumber(segment.graph.name)) next = std::max(next, *number + 1);
  }
  return next;
}

}  // namespace

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

arrow::Result<std::vector<GraphRowsToAppend>> SaveSegmentGraphs(
    const DatasetSnapshot& view, const std::optional<PreviousSnapshot>& previous,
    const std::vector<SavedGraph>& saved, const StagingDir& staging, SnapshotManifest* manifest) {
  const VectorsFile& vectors = *manifest->vectors;
  int64_t file_rows = vectors.rows;  // the vectors file's rows once the planned appends are in
  int64_t next_number = NextGraphFileNumber(previous);
  std::vector<GraphRowsToAppend> appends;
  manifest->segments.clear();
  manifest->indexed_rows = 0;
  const std::vector<SegmentGraphFile> before_files =
      previous ? GraphSegments(previous->manifest) : std::vector<SegmentGraphFile>();
  for (size_t s = 0; s < view.segments.size(); ++s) {
    const SegmentView& segment = view.segments[s];
    const int64_t linked = segment.indexed_rows;
    if (static_cast<int64_t>(segment.graph->size()) != linked || linked > segment.rows) {
      return arrow::Status::UnknownError("segment ", s, "'s graph holds ", segment.graph->size(),
                                         " rows, ", linked, " linked of its ", segment.rows);
    }
    SegmentGraphFile file{segment.first_row, segment.rows, linked, segment.first_row, {}};
    const std::optional<SegmentGraphFile> before =
        PreviousFileOf(segment.graph, before_files, saved);
    const bool unchanged = before && before->linked_rows == linked;
    if (vectors.graph_only) {
      // Its graph rows are in the file already, or continue there when they end it, or go
      // afresh at its end.
      if (unchanged) {
        file.vectors_row = before->vectors_row;
      } else if (before && before->vectors_row + before->linked_rows == file_rows &&
                 before->linked_rows < linked) {
        file.vectors_row = before->vectors_row;
        appends.push_back({s, before->linked_rows, linked});
      } else {
        file.vectors_row = file_rows;
        if (linked > 0) appends.push_back({s, 0, linked});
      }
      file_rows = std::max(file_rows, file.vectors_row + linked);
    }
    const bool sealed = s + 1 < view.segments.size();
    if (sealed && unchanged && linked == segment.rows) {
      file.graph = before->graph;
      ARROW_RETURN_NOT_OK(LinkSnapshotFile(previous->dir, file.graph.name, staging));
    } else {
      file.graph.name = GraphFileName(next_number++);
      const std::string path = staging.FilePath(file.graph.name);
      ARROW_RETURN_NOT_OK(segment.graph->Save(path, VectorsPlacement::kSeparateFile));
      ARROW_ASSIGN_OR_RAISE(file.graph.digest, DigestFile(path));
    }
    manifest->indexed_rows += linked;
    manifest->segments.push_back(std::move(file));
  }
  return appends;
}

arrow::Status AppendGraphRows(const DatasetSnapshot& view,
                              const std::vector<GraphRowsToAppend>& appends, const std::string& dir,
                              SnapshotManifest* manifest) {
  if (appends.empty()) return arrow::Status::OK();
  VectorsFile& vectors = *manifest->vectors;
  ARROW_ASSIGN_OR_RAISE(
      auto appender, ChunkAppender::Open((fs::path(dir) / vectors.name).string(), vectors.bytes()));
  for (const GraphRowsToAppend& append : appends) {
    const RecordArena& rows = view.segments[append.segment].graph->rows().rows();
    if (static_cast<int64_t>(rows.stride()) != vectors.row_bytes) {
      return arrow::Status::UnknownError("the graph's rows have ", rows.stride(),
                                         " bytes, its vectors file's ", vectors.row_bytes);
    }
    for (int64_t row = append.from; row < append.to; ++row) {
      ARROW_RETURN_NOT_OK(appender->Append(std::span<const uint8_t>(
          static_cast<const uint8_t*>(rows.At(static_cast<uint64_t>(row))), rows.stride())));
    }
    vectors.rows += append.to - append.from;
  }
  ARROW_ASSIGN_OR_RAISE(FileDigest chunk, appender->Finish());
  vectors.chunks.push_back(chunk);
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

arrow::Result<SegmentGraphFiles> OpenSegmentGraphs(const std::string& dir,
                                                   const SnapshotManifest& manifest,
                                                   const ExternalVectors* vectors) {
  SegmentGraphFiles graphs;
  graphs.segments = GraphSegments(manifest);
  graphs.vectors.reserve(graphs.segments.size());  // `files` point into it
  for (const SegmentGraphFile& segment : graphs.segments) {
    ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, segment.graph));
    DatasetIndex::GraphFile file{(fs::path(dir) / segment.graph.name).string(), nullptr};
    if (vectors != nullptr) {
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
      return arrow::Status::Invalid("HNSW index file ", graphs.files[s].path, " holds ",
                                    s < loaded.size() ? loaded[s].indexed_rows : 0,
                                    " rows, its manifest says ", segment.linked_rows);
    }
    firsts.push_back(segment.first_row);
  }
  dataset.RestoreSegments(std::move(firsts), rows);
  return arrow::Status::OK();
}

}  // namespace arbalest
