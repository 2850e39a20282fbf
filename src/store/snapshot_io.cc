#include "store/snapshot_io.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <utility>

#include "common/dataset_name.h"
#include "persist/file_digest.h"
#include "persist/staging_dir.h"
#include "store/dataset_edges.h"
#include "store/scan.h"
#include "store/segment_files.h"
#include "store/snapshot_rows.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

Json IndexDescription(const Dataset& dataset) {
  const IndexConfig& config = dataset.index().config();
  Json description{{"type", "hnsw"},
                   {"metric", MetricName(config.metric)},
                   {"element_type", simd::ElementTypeName(config.element_type)},
                   {"dim", dataset.layout().vector.dim},
                   {"m", config.params.m},
                   {"ef_construction", config.params.ef_construction},
                   {"quantization", QuantizationName(config.params.quantization)}};
  if (config.params.quantization == Quantization::kPq) {
    description["pq_m"] = dataset.index().Graphs().front().graph->params().pq_m;
  }
  return description;
}

int64_t SizeOnDisk(const SnapshotManifest& manifest) {
  int64_t bytes = 0;
  for (const SegmentGraphFile& segment : GraphSegments(manifest)) {
    bytes += segment.graph.digest.bytes;
  }
  if (manifest.data) bytes += manifest.data->digest.bytes;
  for (const RowFile& row_file : manifest.row_files) bytes += row_file.file.digest.bytes;
  for (const SegmentGraphFile& segment : manifest.segments) {
    for (const RowFile& row_file : segment.row_files) bytes += row_file.file.digest.bytes;
    if (segment.vectors) bytes += segment.vectors->bytes();
    if (segment.deleted) bytes += segment.deleted->digest.bytes;
  }
  if (manifest.vectors) bytes += manifest.vectors->bytes();
  if (manifest.tombstones) bytes += manifest.tombstones->digest.bytes;
  if (manifest.gone_keys) bytes += manifest.gone_keys->digest.bytes;
  if (manifest.edges) bytes += manifest.edges->digest.bytes;
  return bytes;
}

// The dataset's newest snapshot on disk, when the snapshot being written can continue its
// segments' files: that snapshot is the one the dataset last saved or loaded, it is of format
// version 4 or 5 and its vectors files hold what `received` says (every row's received vector, or
// the graph's own rows). Otherwise (also when anything about it cannot be read) nullopt: every
// segment's files are written afresh.
std::optional<PreviousSnapshot> ContinuableSnapshot(const Dataset& dataset, const std::string& root,
                                                    bool received) {
  const SavedSnapshot saved = dataset.saved_snapshot();
  if (saved.lsn == 0) return std::nullopt;
  auto listing = ListSnapshotDirs(root);
  if (!listing.ok()) return std::nullopt;
  const SnapshotDirEntry* newest = nullptr;
  for (const auto& entry : listing->complete) {
    if (entry.dataset == dataset.name()) newest = &entry;  // sorted oldest first
  }
  // The newest directory on disk must be the saved one: a snapshot whose commit failed after
  // its rename is newer, and appending after the saved one's lengths would break it.
  if (newest == nullptr || newest->lsn != saved.lsn || newest->indexed_rows != saved.indexed_rows ||
      newest->layout != saved.layout) {
    return std::nullopt;
  }
  auto manifest = ReadManifest(newest->path);
  // Version 4's segment files are version 5's (it lacks only the segments' deleted-rows files,
  // which this snapshot writes): an upgraded dataset's segments keep their files.
  if (!manifest.ok() || manifest->format_version() < kSegmentFilesFormatVersion ||
      manifest->created_lsn != dataset.created_lsn()) {
    return std::nullopt;
  }
  for (const SegmentGraphFile& segment : manifest->segments) {
    if (segment.vectors->graph_only == received) return std::nullopt;
  }
  return PreviousSnapshot{newest->path, std::move(*manifest)};
}

// Links or starts the files of `view`'s segments (StartSegmentFiles), continuing the previous
// snapshot's when it can be; when that fails (a file system without hard links) every
// segment's files are started afresh.
arrow::Result<std::vector<SegmentRowsToWrite>> StartFiles(const Dataset& dataset,
                                                          const std::string& root, bool received,
                                                          const DatasetSnapshot& view,
                                                          const StagingDir& staging,
                                                          SnapshotManifest* manifest) {
  const std::vector<SavedGraph> saved = dataset.saved_snapshot().graphs;
  if (auto previous = ContinuableSnapshot(dataset, root, received)) {
    auto writes = StartSegmentFiles(view, previous, saved, received, staging, manifest);
    if (writes.ok()) return writes;
    spdlog::warn("snapshot of '{}' rewrites every segment: {}", dataset.name(),
                 writes.status().message());
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(staging.FilePath(""), error)) {
      fs::remove(entry.path(), error);
    }
  }
  return StartSegmentFiles(view, std::nullopt, saved, received, staging, manifest);
}

arrow::Result<SnapshotFile> Describe(const StagingDir& staging, std::string_view name) {
  ARROW_ASSIGN_OR_RAISE(FileDigest digest, DigestFile(staging.FilePath(name)));
  return SnapshotFile{std::string(name), digest};
}

// Removes the snapshots of `name` in `root` older than `newest`.
void RemoveOlderSnapshots(const std::string& root, const SnapshotDirEntry& newest) {
  auto listing = ListSnapshotDirs(root);
  if (!listing.ok()) {
    spdlog::warn("snapshot: {}", listing.status().message());
    return;
  }
  for (const auto& entry : listing->complete) {
    if (entry.dataset != newest.dataset || entry.path == newest.path) continue;
    if (std::tie(entry.lsn, entry.layout, entry.indexed_rows) >
        std::tie(newest.lsn, newest.layout, newest.indexed_rows)) {
      continue;
    }
    if (auto status = RemoveDirectoryDurably(entry.path); !status.ok()) {
      spdlog::warn("snapshot: {}", status.message());
    }
  }
}

arrow::Status CheckSchemas(const SnapshotManifest& manifest, const Dataset& dataset,
                           const std::string& manifest_path) {
  const auto& created = *dataset.schema();
  const auto& stored = *manifest.schema;
  bool fits = stored.num_fields() >= created.num_fields();
  for (int i = 0; fits && i < created.num_fields(); ++i) {
    fits = created.field(i)->name() == stored.field(i)->name() &&
           created.field(i)->type()->Equals(*stored.field(i)->type());
  }
  if (!fits) {
    return arrow::Status::Invalid("snapshot manifest ", manifest_path,
                                  ": 'schema' does not extend the schema 'put_schema' creates");
  }
  return arrow::Status::OK();
}

// The view's row keys into the manifest, their gone keys into a file when there are any.
arrow::Status SaveKeys(const DatasetSnapshot& view, const StagingDir& staging,
                       SnapshotManifest* manifest) {
  const RowKeys& keys = view.row_keys();
  manifest->next_key = view.next_key();
  manifest->gone_key_count = keys.gone_count();
  if (keys.identity()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(WriteTombstones(keys.GoneKeys(), staging.FilePath(kSnapshotGoneKeysFile)));
  ARROW_ASSIGN_OR_RAISE(manifest->gone_keys, Describe(staging, kSnapshotGoneKeysFile));
  return arrow::Status::OK();
}

// The row keys `manifest` saved (key = row when it has none), checked against its rows.
arrow::Result<RowKeys> LoadKeys(const std::string& dir, const SnapshotManifest& manifest) {
  if (!manifest.gone_keys) return RowKeys();
  ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, *manifest.gone_keys));
  const std::string path = (fs::path(dir) / manifest.gone_keys->name).string();
  ARROW_ASSIGN_OR_RAISE(const Roaring gone, ReadTombstones(path));
  if (gone.cardinality() != manifest.gone_key_count ||
      (!gone.isEmpty() && gone.maximum() >= *manifest.next_key)) {
    return arrow::Status::Invalid("gone keys file ", path, " holds ", gone.cardinality(),
                                  " keys up to ", gone.isEmpty() ? 0 : gone.maximum(),
                                  ", but the manifest says ", manifest.gone_key_count,
                                  " below the next key ", *manifest.next_key);
  }
  return RowKeys::WithGone(gone);
}

}  // namespace

arrow::Result<SnapshotReport> WriteSnapshot(Dataset& dataset, const std::string& root,
                                            const std::function<bool()>& cancelled) {
  const auto start = std::chrono::steady_clock::now();
  // No compaction or merge replaces a segment between saving the graphs and taking the rows.
  MutexLock maintenance(&dataset.maintenance_mutex());
  ARROW_ASSIGN_OR_RAISE(
      auto staging,
      StagingDir::Create((fs::path(root) / SnapshotStagingName(dataset.name())).string()));
  SnapshotManifest manifest;
  manifest.dataset = dataset.name();
  const bool received = GraphStoresReceivedVectors(dataset);
  DatasetSnapshot view;
  std::vector<SegmentRowsToWrite> writes;
  {
    // The rows and the segments' graphs of one moment: indexing waits until every graph that
    // changed is written; puts, scans and searches go on.
    const auto paused = dataset.index().PauseIndexing();
    view = dataset.Snapshot();
    // Read after the view: a merge waits for the maintenance mutex, so it is the view's.
    manifest.layout = dataset.layout_generation();
    if (dataset.dropped()) {
      return arrow::Status::KeyError("dataset '", dataset.name(),
                                     "' was deleted during its snapshot");
    }
    ARROW_ASSIGN_OR_RAISE(writes, StartFiles(dataset, root, received, view, *staging, &manifest));
  }
  manifest.lsn = view.lsn;
  manifest.created_lsn = dataset.created_lsn();
  manifest.put_schema = dataset.put_schema();
  manifest.schema = view.schema;
  manifest.index = IndexDescription(dataset);
  ARROW_RETURN_NOT_OK(WriteSegmentRows(view, writes, dataset.vector_column(), staging->FilePath(""),
                                       &manifest, cancelled));
  if (cancelled()) return arrow::Status::Cancelled("snapshot abandoned");  // before the fsyncs
  ARROW_RETURN_NOT_OK(SaveKeys(view, *staging, &manifest));
  ARROW_ASSIGN_OR_RAISE(const bool edges, SaveEdges(view, staging->FilePath(kSnapshotEdgesFile)));
  if (edges) {
    ARROW_ASSIGN_OR_RAISE(manifest.edges, Describe(*staging, kSnapshotEdgesFile));
  }
  ARROW_RETURN_NOT_OK(WriteManifest(manifest, staging->FilePath(kManifestFile)));
  const SnapshotDirEntry committed{
      manifest.dataset, manifest.lsn, manifest.indexed_rows,
      (fs::path(root) /
       SnapshotDirName(manifest.dataset, manifest.lsn, manifest.indexed_rows, manifest.layout))
          .string(),
      manifest.layout};
  ARROW_RETURN_NOT_OK(staging->Commit(committed.path));
  RemoveOlderSnapshots(root, committed);
  const SavedSnapshot saved{manifest.lsn,         view.live_rows(),
                            view.deleted_rows,    manifest.indexed_rows,
                            SizeOnDisk(manifest), SavedGraphsOf(view.segments),
                            manifest.layout};
  dataset.set_saved_snapshot(saved);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return SnapshotReport{manifest.dataset,      manifest.lsn, saved.rows, saved.deleted_rows,
                        manifest.indexed_rows, saved.bytes,  seconds};
}

arrow::Result<std::shared_ptr<Dataset>> LoadSnapshot(const SnapshotDirEntry& dir,
                                                     MemoryBudget* budget) {
  const std::string manifest_path = (fs::path(dir.path) / kManifestFile).string();
  ARROW_RETURN_NOT_OK(ValidateDatasetName(dir.dataset));
  ARROW_ASSIGN_OR_RAISE(SnapshotManifest manifest, ReadManifest(dir.path));
  if (manifest.dataset != dir.dataset || manifest.lsn != dir.lsn ||
      manifest.indexed_rows != dir.indexed_rows || manifest.layout != dir.layout) {
    return arrow::Status::Invalid("snapshot manifest ", manifest_path, " describes dataset '",
                                  manifest.dataset, "' at LSN ", manifest.lsn,
                                  ", which does not match its directory name");
  }
  if (manifest.data) ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir.path, *manifest.data));
  for (const RowFile& row_file : manifest.row_files) {
    ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir.path, row_file.file));
  }
  ARROW_ASSIGN_OR_RAISE(const Roaring deleted, ReadDeletedRows(dir.path, manifest));
  ARROW_ASSIGN_OR_RAISE(RowKeys keys, LoadKeys(dir.path, manifest));
  std::optional<ExternalVectors> vectors;
  if (manifest.vectors) {
    ARROW_ASSIGN_OR_RAISE(vectors, MapVectors(dir.path, *manifest.vectors));
  }
  ARROW_ASSIGN_OR_RAISE(SegmentGraphFiles graphs,
                        OpenSegmentGraphs(dir.path, manifest, vectors ? &*vectors : nullptr));
  ARROW_ASSIGN_OR_RAISE(auto dataset, Dataset::Create(manifest.dataset, *manifest.put_schema,
                                                      budget, graphs.files, ChargeMode::kAlways));
  ARROW_RETURN_NOT_OK(CheckSchemas(manifest, *dataset, manifest_path));
  ARROW_RETURN_NOT_OK(RestoreSegments(graphs, manifest.rows, *dataset));
  if (auto status = LoadRows(dir.path, manifest, vectors ? &*vectors : nullptr, graphs.vectors,
                             deleted, *dataset);
      !status.ok()) {
    return status.WithMessage("loading snapshot ", dir.path, ": ", status.message());
  }
  dataset->RestoreKeys(std::move(keys));
  // Split into the segments' sets again (the segments were restored above).
  ARROW_RETURN_NOT_OK(dataset->DeleteRecovered(deleted, manifest.lsn));
  ARROW_RETURN_NOT_OK(LoadEdges(dir.path, manifest.edges, *dataset));
  dataset->set_created_lsn(manifest.created_lsn);
  const auto deleted_rows = static_cast<int64_t>(deleted.cardinality());
  dataset->set_saved_snapshot({manifest.lsn, manifest.rows - deleted_rows, deleted_rows,
                               manifest.indexed_rows, SizeOnDisk(manifest),
                               SavedGraphsOf(dataset->Snapshot().segments), manifest.layout});
  return dataset;
}

}  // namespace arbalest
