#include "metrics/status_api.h"

#include <chrono>
#include <cmath>

#include "index/metric.h"
#include "metrics/process_stats.h"
#include "persist/wal_writer.h"
#include "simd/element_type.h"
#include "store/dataset.h"
#include "store/dataset_layout.h"
#include "store/snapshotter.h"

namespace arbalest {
namespace {

template <class T>
T Load(const std::atomic<T>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// Bounds as numbers; the last one (+Inf) is JSON null, which JSON cannot spell otherwise.
Json LatencyJson(const LatencySnapshot& latency) {
  Json bounds = Json::array();
  for (double bound : latency.upper_bounds) {
    bounds.push_back(std::isfinite(bound) ? Json(bound) : Json(nullptr));
  }
  return Json{{"count", latency.count},
              {"sum_seconds", latency.sum_seconds},
              {"upper_bounds_seconds", std::move(bounds)},
              {"cumulative_counts", latency.cumulative_counts}};
}

Json DatasetJson(const Dataset& dataset) {
  const DatasetSnapshot snapshot = dataset.Snapshot();
  const DatasetLayout& layout = dataset.layout();
  const HnswIndex& hnsw = *snapshot.segments.front().graph;
  const SavedSnapshot saved = dataset.saved_snapshot();
  const int64_t index_lag = snapshot.num_rows - snapshot.indexed_rows;
  Json last_snapshot = nullptr;
  if (saved.lsn != 0) {
    last_snapshot = Json{{"lsn", saved.lsn},
                         {"rows", saved.rows},
                         {"deleted_rows", saved.deleted_rows},
                         {"bytes", saved.bytes}};
  }
  return Json{{"name", dataset.name()},
              {"rows", snapshot.live_rows()},
              {"deleted_rows", snapshot.num_rows - snapshot.live_rows()},
              {"dim", layout.vector.dim},
              {"metric", std::string(MetricName(hnsw.metric()))},
              {"vector_type", std::string(VectorTypeName(*layout.vector.value_type))},
              {"build_precision", std::string(simd::ElementTypeName(hnsw.build_element_type()))},
              {"bytes", snapshot.num_bytes},
              {"index_bytes", dataset.index_memory()},
              {"memory_bytes", snapshot.num_bytes + dataset.index_memory()},
              {"indexed_rows", snapshot.indexed_rows},
              {"index_lag_rows", index_lag},
              {"index_ready", index_lag == 0},
              {"last_snapshot", std::move(last_snapshot)}};
}

}  // namespace

Json StatusApi::Document(double now_seconds) const {
  Json datasets = Json::array();
  int64_t rows = 0, deleted_rows = 0, index_lag = 0;
  for (const auto& dataset : store_->List()) {
    Json entry = DatasetJson(*dataset);
    rows += entry["rows"].get<int64_t>();
    deleted_rows += entry["deleted_rows"].get<int64_t>();
    index_lag += entry["index_lag_rows"].get<int64_t>();
    datasets.push_back(std::move(entry));
  }
  const IngestCounters& ingest = store_->ingest_counters();
  Json process = nullptr;
  if (auto stats = ReadProcessStats(); stats.ok()) {
    process = Json{{"resident_bytes", stats->resident_bytes},
                   {"cpu_seconds", stats->cpu_seconds},
                   {"start_time_seconds", stats->start_time_seconds},
                   {"threads", stats->threads}};
  }
  Json document{
      {"version", info_.version},
      {"time_seconds", now_seconds},
      {"process", std::move(process)},
      {"memory", Json{{"used_bytes", store_->memory().data_bytes()},
                      {"held_freed_bytes", store_->memory().held_freed()},
                      {"limit_bytes", store_->memory().limit()}}},
      {"ingest", Json{{"batches", Load(ingest.batches)},
                      {"rows", Load(ingest.rows)},
                      {"bytes", Load(ingest.bytes)},
                      {"rejected_batches", Load(ingest.rejected)}}},
      {"totals", Json{{"datasets", datasets.size()},
                      {"rows", rows},
                      {"deleted_rows", deleted_rows},
                      {"index_lag_rows", index_lag},
                      {"index_queue_depth", store_->index_queue_depth()}}},
      {"datasets", std::move(datasets)},
      {"search_latency", nullptr},
      {"wal_fsync_latency", nullptr},
      {"wal", nullptr},
      {"snapshots", nullptr},
  };
  if (metrics_ != nullptr) {
    document["search_latency"] = LatencyJson(metrics_->search_latency());
    document["wal_fsync_latency"] = LatencyJson(metrics_->wal_sync_latency());
  }
  if (const WalWriter* wal = store_->wal()) {
    document["wal"] = Json{{"bytes", wal->bytes_written()}, {"failed", wal->failed()}};
  }
  if (const Snapshotter* snapshotter = store_->snapshotter()) {
    const SnapshotCounters& counters = snapshotter->counters();
    document["snapshots"] = Json{{"written", Load(counters.written)},
                                 {"failed", Load(counters.failed)},
                                 {"last_success_seconds", Load(counters.last_success)}};
  }
  return document;
}

std::string StatusApi::Serve() const {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return Document(now).dump();
}

}  // namespace arbalest
