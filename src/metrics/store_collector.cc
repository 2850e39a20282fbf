#include "metrics/store_collector.h"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <string>

#include "metrics/metric_families.h"

namespace arbalest {
namespace {

template <class T>
double Load(const std::atomic<T>& counter) {
  return static_cast<double>(counter.load(std::memory_order_relaxed));
}

// One dataset's figures, as the per-dataset families show them.
struct DatasetFigures {
  std::string name;
  double rows = 0, deleted_rows = 0, bytes = 0, index_bytes = 0, index_lag_rows = 0;

  void Add(const DatasetFigures& other) {
    rows += other.rows;
    deleted_rows += other.deleted_rows;
    bytes += other.bytes;
    index_bytes += other.index_bytes;
    index_lag_rows += other.index_lag_rows;
  }
};

// The per-dataset families: the first `labelled` of `figures` (sorted largest first) under
// their own name, the rest summed under "_other".
std::vector<prometheus::MetricFamily> PerDataset(std::vector<DatasetFigures> figures,
                                                 size_t labelled) {
  std::sort(figures.begin(), figures.end(), [](const auto& a, const auto& b) {
    return a.rows != b.rows ? a.rows > b.rows : a.name < b.name;
  });
  if (figures.size() > labelled) {
    DatasetFigures other{"_other"};
    for (size_t i = labelled; i < figures.size(); ++i) other.Add(figures[i]);
    figures.resize(labelled);
    figures.push_back(std::move(other));
  }
  struct Column {
    const char* name;
    const char* help;
    double DatasetFigures::*value;
  };
  static constexpr Column kColumns[] = {
      {"arbalest_dataset_rows", "Live rows of the dataset.", &DatasetFigures::rows},
      {"arbalest_dataset_deleted_rows", "Deleted rows the dataset still stores (until compacted).",
       &DatasetFigures::deleted_rows},
      {"arbalest_dataset_stored_bytes", "Bytes of Arrow data the dataset stores.",
       &DatasetFigures::bytes},
      {"arbalest_dataset_index_memory_bytes", "Memory of the dataset's vector index.",
       &DatasetFigures::index_bytes},
      {"arbalest_dataset_index_lag_rows", "Rows of the dataset acked but not indexed yet.",
       &DatasetFigures::index_lag_rows},
  };
  std::vector<prometheus::MetricFamily> families;
  for (const Column& column : kColumns) {
    prometheus::MetricFamily family{column.name, column.help, prometheus::MetricType::Gauge, {}};
    for (const DatasetFigures& dataset : figures) {
      prometheus::ClientMetric metric;
      metric.label = {{"dataset", dataset.name}};
      metric.gauge.value = dataset.*column.value;
      family.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(family));
  }
  return families;
}

}  // namespace

std::vector<prometheus::MetricFamily> StoreCollector::Collect() const {
  int64_t rows = 0, deleted_rows = 0, bytes = 0, indexed = 0, index_bytes = 0;
  const auto datasets = store_->List();
  std::vector<DatasetFigures> figures;
  figures.reserve(datasets.size());
  for (const auto& dataset : datasets) {
    const DatasetSnapshot snapshot = dataset->Snapshot();
    const MemoryUsage memory = GraphMemory(snapshot.segments);
    const int64_t dataset_index_bytes =
        static_cast<int64_t>(memory.vector_bytes + memory.graph_bytes);
    rows += snapshot.num_rows;
    deleted_rows += snapshot.num_rows - snapshot.live_rows();
    bytes += snapshot.num_bytes;
    indexed += snapshot.indexed_rows;
    index_bytes += dataset_index_bytes;
    figures.push_back({dataset->name(), static_cast<double>(snapshot.live_rows()),
                       static_cast<double>(snapshot.num_rows - snapshot.live_rows()),
                       static_cast<double>(snapshot.num_bytes),
                       static_cast<double>(dataset_index_bytes),
                       static_cast<double>(snapshot.num_rows - snapshot.indexed_rows)});
  }
  const IngestCounters& ingest = store_->ingest_counters();
  std::vector<prometheus::MetricFamily> families = {
      Gauge("arbalest_datasets", "Datasets in the store.", static_cast<double>(datasets.size())),
      Gauge("arbalest_rows", "Live rows, all datasets.", static_cast<double>(rows - deleted_rows)),
      Gauge("arbalest_deleted_rows", "Deleted rows still stored (until compacted).",
            static_cast<double>(deleted_rows)),
      Gauge("arbalest_stored_bytes", "Bytes of Arrow data stored.", static_cast<double>(bytes)),
      Gauge("arbalest_memory_used_bytes",
            "Bytes charged to the memory budget (--max-memory) for datasets, rows and indexes.",
            static_cast<double>(store_->memory().data_bytes())),
      Gauge("arbalest_memory_held_freed_bytes",
            "Freed memory kept for the next puts, also charged to --max-memory until handed "
            "back to the system (at most every 5 s while indexing runs, and before a put would "
            "be refused).",
            static_cast<double>(store_->memory().held_freed())),
      Gauge("arbalest_memory_limit_bytes", "--max-memory (0 = unlimited).",
            static_cast<double>(store_->memory().limit())),
      Counter("arbalest_ingested_batches_total", "Batches acked.", Load(ingest.batches)),
      Counter("arbalest_ingested_rows_total", "Rows acked.", Load(ingest.rows)),
      Counter("arbalest_ingested_bytes_total", "Arrow bytes acked.", Load(ingest.bytes)),
      Counter("arbalest_put_rejected_total", "Batches refused by the memory limit.",
              Load(ingest.rejected)),
      Counter("arbalest_put_slow_down_total", "Acks that asked the client to slow down.",
              Load(ingest.slow_downs)),
      Counter("arbalest_compactions_total", "Compactions of datasets (startup replay excluded).",
              Load(store_->compaction_counters().compactions)),
      Counter("arbalest_compacted_rows_total", "Deleted rows reclaimed by compactions.",
              Load(store_->compaction_counters().reclaimed_rows)),
      Gauge("arbalest_index_rows", "Rows in the vector indexes.", static_cast<double>(indexed)),
      Gauge("arbalest_index_lag_rows", "Rows acked but not in the vector index yet.",
            static_cast<double>(rows - indexed)),
      Gauge("arbalest_index_queue_depth", "Datasets waiting for or being indexed.",
            static_cast<double>(store_->index_queue_depth())),
      Gauge("arbalest_index_memory_bytes", "Memory of the vector indexes (vectors and graph).",
            static_cast<double>(index_bytes)),
  };
  if (const WalWriter* wal = store_->wal()) {
    families.push_back(Counter("arbalest_wal_bytes_total", "Bytes written to the WAL.",
                               static_cast<double>(wal->bytes_written())));
    families.push_back(Counter("arbalest_wal_failed_groups_total",
                               "WAL write groups that could not be written (their puts failed).",
                               static_cast<double>(wal->failed_groups())));
    families.push_back(Gauge("arbalest_wal_failed",
                             "1 once the WAL has failed (an fsync or I/O error): no more writes "
                             "until the server is restarted.",
                             wal->failed() ? 1.0 : 0.0));
  }
  if (const Snapshotter* snapshotter = store_->snapshotter()) {
    const SnapshotCounters& snapshots = snapshotter->counters();
    families.push_back(Counter("arbalest_snapshots_total", "Dataset snapshots made durable.",
                               Load(snapshots.written)));
    families.push_back(Counter("arbalest_snapshot_failures_total",
                               "Dataset snapshots that failed (the WAL keeps their changes).",
                               Load(snapshots.failed)));
    families.push_back(Counter("arbalest_snapshot_bytes_total", "Bytes of snapshots written.",
                               Load(snapshots.bytes)));
    families.push_back(Counter("arbalest_snapshot_seconds_total", "Time spent writing snapshots.",
                               Load(snapshots.seconds)));
    families.push_back(Gauge("arbalest_snapshot_last_success_timestamp_seconds",
                             "Unix time of the latest snapshot written (0: none yet).",
                             Load(snapshots.last_success)));
    families.push_back(Counter("arbalest_checkpoint_failures_total",
                               "Checkpoints that failed (WAL segments not deleted).",
                               Load(snapshots.checkpoint_failures)));
  }
  for (auto& family : PerDataset(std::move(figures), static_cast<size_t>(max_labelled_datasets_))) {
    families.push_back(std::move(family));
  }
  return families;
}

}  // namespace arbalest
