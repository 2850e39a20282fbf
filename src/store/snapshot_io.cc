#include "store/snapshot_io.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "common/dataset_name.h"
#include "persist/file_digest.h"
#include "persist/parquet_file.h"
#include "persist/staging_dir.h"
#include "store/dataset_edges.h"
#include "store/scan.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;

// Row groups of about this many bytes: large enough for fast scans, small enough that writing
// one (the writer buffers a row group) and loading one (a stored batch) stay cheap.
constexpr int64_t kRowGroupBytes = int64_t{64} << 20;
constexpr int64_t kMinRowGroupRows = 1024;
constexpr int64_t kMaxRowGroupRows = int64_t{1} << 20;

int64_t RowGroupRows(const DatasetSnapshot& view) {
  const int64_t row_bytes =
      view.num_rows > 0 ? std::max<int64_t>(1, view.num_bytes / view.num_rows) : 1;
  return std::clamp(kRowGroupBytes / row_bytes, kMinRowGroupRows, kMaxRowGroupRows);
}

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
    description["pq_m"] = dataset.index().graph()->params().pq_m;
  }
  return description;
}

int64_t SizeOnDisk(const SnapshotManifest& manifest) {
  int64_t bytes = manifest.data.digest.bytes + manifest.graph.digest.bytes;
  if (manifest.tombstones) bytes += manifest.tombstones->digest.bytes;
  if (manifest.edges) bytes += manifest.edges->digest.bytes;
  return bytes;
}

arrow::Result<SnapshotFile> Describe(const StagingDir& staging, std::string_view name) {
  ARROW_ASSIGN_OR_RAISE(FileDigest digest, DigestFile(staging.FilePath(name)));
  return SnapshotFile{std::string(name), digest};
}

arrow::Status WriteRows(const DatasetSnapshot& view, const std::string& path,
                        const std::function<bool()>& cancelled) {
  ARROW_ASSIGN_OR_RAISE(auto writer,
                        ParquetBatchWriter::Open(path, view.schema, RowGroupRows(view)));
  for (const auto& stored : view.batches) {
    if (cancelled()) return arrow::Status::Cancelled("snapshot abandoned");
    ARROW_ASSIGN_OR_RAISE(auto batch, PadToSchema(stored, view.schema));
    ARROW_RETURN_NOT_OK(writer->Write(*batch));
  }
  return writer->Close();
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
    if (std::tie(entry.lsn, entry.indexed_rows) > std::tie(newest.lsn, newest.indexed_rows)) {
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

}  // namespace

arrow::Result<SnapshotReport> WriteSnapshot(Dataset& dataset, const std::string& root,
                                            const std::function<bool()>& cancelled) {
  const auto start = std::chrono::steady_clock::now();
  // No compaction renumbers the rows between saving the graph and taking the rows.
  MutexLock maintenance(&dataset.maintenance_mutex());
  ARROW_ASSIGN_OR_RAISE(
      auto staging,
      StagingDir::Create((fs::path(root) / SnapshotStagingName(dataset.name())).string()));
  SnapshotManifest manifest;
  manifest.dataset = dataset.name();
  ARROW_ASSIGN_OR_RAISE(manifest.indexed_rows,
                        dataset.index().SaveGraph(staging->FilePath(kSnapshotIndexFile)));
  // Only now the rows: every row in the saved graph is published already.
  const DatasetSnapshot view = dataset.Snapshot();
  if (dataset.dropped()) {
    return arrow::Status::KeyError("dataset '", dataset.name(),
                                   "' was deleted during its snapshot");
  }
  manifest.lsn = view.lsn;
  manifest.created_lsn = dataset.created_lsn();
  manifest.rows = view.num_rows;
  manifest.put_schema = dataset.put_schema();
  manifest.schema = view.schema;
  manifest.index = IndexDescription(dataset);
  ARROW_RETURN_NOT_OK(WriteRows(view, staging->FilePath(kSnapshotDataFile), cancelled));
  if (cancelled()) return arrow::Status::Cancelled("snapshot abandoned");  // before the fsyncs
  ARROW_ASSIGN_OR_RAISE(manifest.data, Describe(*staging, kSnapshotDataFile));
  ARROW_ASSIGN_OR_RAISE(manifest.graph, Describe(*staging, kSnapshotIndexFile));
  if (!view.deleted->empty()) {
    ARROW_RETURN_NOT_OK(
        WriteTombstones(view.deleted->rows(), staging->FilePath(kSnapshotTombstonesFile)));
    ARROW_ASSIGN_OR_RAISE(manifest.tombstones, Describe(*staging, kSnapshotTombstonesFile));
  }
  ARROW_ASSIGN_OR_RAISE(const bool edges, SaveEdges(view, staging->FilePath(kSnapshotEdgesFile)));
  if (edges) {
    ARROW_ASSIGN_OR_RAISE(manifest.edges, Describe(*staging, kSnapshotEdgesFile));
  }
  ARROW_RETURN_NOT_OK(WriteManifest(manifest, staging->FilePath(kManifestFile)));
  const SnapshotDirEntry committed{
      manifest.dataset, manifest.lsn, manifest.indexed_rows,
      (fs::path(root) / SnapshotDirName(manifest.dataset, manifest.lsn, manifest.indexed_rows))
          .string()};
  ARROW_RETURN_NOT_OK(staging->Commit(committed.path));
  RemoveOlderSnapshots(root, committed);
  const SavedSnapshot saved{manifest.lsn, view.live_rows(),
                            static_cast<int64_t>(view.deleted->size()), manifest.indexed_rows,
                            SizeOnDisk(manifest)};
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
      manifest.indexed_rows != dir.indexed_rows) {
    return arrow::Status::Invalid("snapshot manifest ", manifest_path, " describes dataset '",
                                  manifest.dataset, "' at LSN ", manifest.lsn,
                                  ", which does not match its directory name");
  }
  ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir.path, manifest.data));
  ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir.path, manifest.graph));
  Roaring deleted;
  if (manifest.tombstones) {
    ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir.path, *manifest.tombstones));
    const std::string path = (fs::path(dir.path) / manifest.tombstones->name).string();
    ARROW_ASSIGN_OR_RAISE(deleted, ReadTombstones(path));
    if (!deleted.isEmpty() && deleted.maximum() >= static_cast<uint64_t>(manifest.rows)) {
      return arrow::Status::Invalid("tombstones file ", path, " deletes row ", deleted.maximum(),
                                    ", but the snapshot has ", manifest.rows, " rows");
    }
  }
  const std::string graph_path = (fs::path(dir.path) / manifest.graph.name).string();
  ARROW_ASSIGN_OR_RAISE(auto dataset, Dataset::Create(manifest.dataset, *manifest.put_schema,
                                                      budget, graph_path, ChargeMode::kAlways));
  ARROW_RETURN_NOT_OK(CheckSchemas(manifest, *dataset, manifest_path));
  if (dataset->index().indexed_rows() != manifest.indexed_rows) {
    return arrow::Status::Invalid("HNSW index file ", graph_path, " holds ",
                                  dataset->index().indexed_rows(), " rows, its manifest says ",
                                  manifest.indexed_rows);
  }
  const std::string data_path = (fs::path(dir.path) / manifest.data.name).string();
  ARROW_ASSIGN_OR_RAISE(ParquetBatches data, ReadParquetBatches(data_path, manifest.schema));
  if (data.num_rows != manifest.rows) {
    return arrow::Status::Invalid("Parquet file ", data_path, " holds ", data.num_rows,
                                  " rows, its manifest says ", manifest.rows);
  }
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(data.reader->ReadNext(&batch));
    if (!batch) break;
    if (batch->num_rows() == 0) continue;
    if (auto status = dataset->AppendRecovered(batch, manifest.lsn); !status.ok()) {
      return status.WithMessage("loading snapshot ", dir.path, ": ", status.message());
    }
  }
  ARROW_RETURN_NOT_OK(dataset->DeleteRecovered(deleted, manifest.lsn));
  ARROW_RETURN_NOT_OK(LoadEdges(dir.path, manifest.edges, *dataset));
  dataset->set_created_lsn(manifest.created_lsn);
  const auto deleted_rows = static_cast<int64_t>(deleted.cardinality());
  dataset->set_saved_snapshot({manifest.lsn, manifest.rows - deleted_rows, deleted_rows,
                               manifest.indexed_rows, SizeOnDisk(manifest)});
  return dataset;
}

}  // namespace arbalest
