#include "store/vector_store.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include "common/dataset_name.h"
#include "store/dataset_compaction.h"
#include "store/dataset_edges.h"
#include "store/free_memory.h"
#include "store/id_lookup.h"
#include "store/schema_options.h"

namespace arbalest {

PutAck VectorStore::Acknowledge(const Committed& committed) {
  const PutAck ack{committed.rows, wal_ ? committed.lsn : next_seq_.fetch_add(1),
                   budget_.OverSoftLimit()};
  ingest_.batches.fetch_add(1, std::memory_order_relaxed);
  ingest_.rows.fetch_add(ack.rows, std::memory_order_relaxed);
  ingest_.bytes.fetch_add(committed.bytes, std::memory_order_relaxed);
  if (ack.slow_down) ingest_.slow_downs.fetch_add(1, std::memory_order_relaxed);
  return ack;
}

void VectorStore::StartIndexing(int threads, bool share_vectors) {
  auto workers = std::make_shared<IndexWorkers>(
      threads,
      [this](const std::string& name) {
        auto dataset = Get(name);
        return dataset.ok() ? *dataset : nullptr;
      },
      share_vectors, [this] { budget_.ReturnFreed(); },
      [this](const Dataset& dataset) { MaybeMerge(dataset); });
  for (const auto& dataset : List()) workers->Notify(dataset->name());
  index_workers_.store(std::move(workers));
}

VectorStore::~VectorStore() {
  StopCompaction();
  snapshotter_.reset();
  StopIndexing();
}

void VectorStore::StartCompaction(const CompactionOptions& options) {
  compaction_options_ = options;
  if (options.merge_segments) {
    merger_.store(std::make_shared<Compactor>(
        [this](const std::string& name, const std::function<bool()>& cancelled) {
          MergeSegments(name, cancelled);
        }));
    for (const auto& dataset : List()) MaybeMerge(*dataset);
  }
  if (options.deleted_fraction <= 0) return;
  compactor_ = std::make_unique<Compactor>(
      [this](const std::string& name, const std::function<bool()>& cancelled) {
        auto dataset = Get(name);
        // Compacted meanwhile (the `compact` action), or dropped: nothing to do.
        if (!dataset.ok() || !ShouldCompact((*dataset)->Snapshot(), compaction_options_)) return;
        auto report = Compact(**dataset, cancelled, compaction_options_.deleted_fraction);
        if (report.ok()) {
          spdlog::info("compacted dataset '{}': {} deleted rows and {} bytes reclaimed in {:.3f} s",
                       name, report->reclaimed_rows, report->reclaimed_bytes, report->seconds);
        } else if (!report.status().IsCancelled() && !report.status().IsKeyError()) {
          spdlog::error("compacting dataset '{}' failed: {}", name, report.status().ToString());
        }
      });
  for (const auto& dataset : List()) MaybeCompact(*dataset);
}

void VectorStore::MaybeCompact(const Dataset& dataset) {
  if (compactor_ && ShouldCompact(dataset.Snapshot(), compaction_options_)) {
    compactor_->Notify(dataset.name());
  }
}

void VectorStore::MaybeMerge(const Dataset& dataset) {
  if (dataset.index().segment_count() < 2) return;
  if (auto merger = merger_.load()) merger->Notify(dataset.name());
}

void VectorStore::MergeSegments(const std::string& name, const std::function<bool()>& cancelled) {
  auto dataset = Get(name);
  if (!dataset.ok()) return;  // dropped
  auto report = (*dataset)->MergeSegments(compaction_options_.threads, cancelled);
  if (!report.ok()) {
    spdlog::error("merging segments of dataset '{}' failed: {}", name, report.status().ToString());
    return;
  }
  if (report->merges == 0) return;
  spdlog::info("merged {} pairs of segments of dataset '{}' ({} rows inserted) in {:.3f} s",
               report->merges, name, report->inserted_rows, report->seconds);
  ReturnFreeMemory();  // the old graphs
  // An indexing turn that met the old graphs stopped: it goes on with the merged ones.
  if (auto workers = index_workers_.load()) workers->Notify(name);
}

arrow::Result<CompactionReport> VectorStore::Compact(Dataset& dataset,
                                                     const std::function<bool()>& cancelled,
                                                     double segment_fraction) {
  ARROW_ASSIGN_OR_RAISE(const CompactionReport report,
                        dataset.Compact(Log(), compaction_options_.threads, cancelled,
                                        segment_fraction, compaction_options_.rekey_gone_keys));
  if (report.reclaimed_rows == 0) return report;
  ReturnFreeMemory();  // the dropped rows' batches and the old graph
  if (auto workers = index_workers_.load()) workers->Notify(dataset.name());
  MaybeMerge(dataset);  // the compacted segments may fit together now
  compactions_.compactions.fetch_add(1, std::memory_order_relaxed);
  compactions_.reclaimed_rows.fetch_add(report.reclaimed_rows, std::memory_order_relaxed);
  return report;
}

arrow::Status VectorStore::StartSnapshots(SnapshotOptions options) {
  if (!wal_) return arrow::Status::Invalid("snapshots need a write-ahead log");
  snapshotter_ = std::make_unique<Snapshotter>(*this, *wal_, std::move(options));
  published_snapshotter_.store(snapshotter_.get(), std::memory_order_release);
  return arrow::Status::OK();
}

size_t VectorStore::index_queue_depth() const {
  const auto workers = index_workers_.load();
  return workers ? workers->queue_depth() : 0;
}

arrow::Result<std::shared_ptr<Dataset>> VectorStore::GetOrCreate(std::string_view name,
                                                                 const arrow::Schema& put_schema) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  std::shared_ptr<Dataset> existing = Find(name);
  std::shared_lock namespace_held(namespaces_.mutex(), std::defer_lock);
  if (!existing) {
    namespace_held.lock();  // until created: no drop of its namespace meanwhile
    ARROW_RETURN_NOT_OK(namespaces_.CheckDatasetNamespaceLocked(name));
    ARROW_ASSIGN_OR_RAISE(auto created, CreateDataset(name, put_schema));
    ARROW_ASSIGN_OR_RAISE(existing, ReserveName(name, created));
    if (!existing) {
      const arrow::Status logged = created->LogCreation(Log());
      FinishCreation(name, logged.ok());
      ARROW_RETURN_NOT_OK(logged);
      return created;
    }
  }
  ARROW_RETURN_NOT_OK(CheckOptionsAgree(put_schema, *existing->schema(), existing->name()));
  ARROW_RETURN_NOT_OK(existing->CheckPutSchema(put_schema));
  return existing;
}

std::shared_ptr<Dataset> VectorStore::Find(std::string_view name) const {
  ReaderLock lock(&mutex_);
  auto it = datasets_.find(name);
  return it == datasets_.end() ? nullptr : it->second;
}

arrow::Result<std::shared_ptr<Dataset>> VectorStore::ReserveName(
    std::string_view name, const std::shared_ptr<Dataset>& created) {
  WriterLock lock(&mutex_);
  while (true) {
    if (auto it = datasets_.find(name); it != datasets_.end()) return it->second;
    if (creating_.find(name) == creating_.end()) break;
    creation_done_.Wait(&mutex_);  // another put is logging the same name's creation
  }
  creating_.emplace(std::string(name), created);
  return nullptr;
}

void VectorStore::FinishCreation(std::string_view name, bool logged) {
  std::shared_ptr<Dataset> created;
  {
    WriterLock lock(&mutex_);
    auto it = creating_.find(name);
    if (logged) {
      created = it->second;
      datasets_.emplace(it->first, it->second);
    }
    creating_.erase(it);
    creation_done_.SignalAll();
  }
  if (created) {  // logged without the map's lock
    const VectorSpec& vector = created->layout().vector;
    spdlog::info("created dataset '{}': {} x {} in column '{}'", name, vector.dim,
                 VectorTypeName(*vector.value_type), vector.column);
  }
}

arrow::Result<std::shared_ptr<Dataset>> VectorStore::CreateDataset(
    std::string_view name, const arrow::Schema& put_schema) {
  // The options under their canonical keys: what the log records and replay reads.
  ARROW_ASSIGN_OR_RAISE(const auto canonical, CanonicalOptions(put_schema));
  ARROW_ASSIGN_OR_RAISE(const DatasetLayout layout, InspectPutSchema(*canonical));
  if (max_dimension_ > 0 && layout.vector.dim > max_dimension_) {
    return arrow::Status::Invalid("vector column '", layout.vector.column, "' has ",
                                  layout.vector.dim, " dimensions, more than --max-dimension ",
                                  max_dimension_, " allows; dataset '", name, "' not created");
  }
  return Dataset::Create(std::string(name), *canonical, &budget_);
}

arrow::Result<PutAck> VectorStore::Put(std::string_view name,
                                       const std::shared_ptr<arrow::RecordBatch>& batch,
                                       std::shared_ptr<Dataset>* dataset, HeldIds held_ids) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  *dataset = Find(name);
  if (*dataset) return AppendChecked(**dataset, batch, held_ids);
  std::shared_lock namespace_held(namespaces_.mutex());  // no drop of it until created
  ARROW_RETURN_NOT_OK(namespaces_.CheckDatasetNamespaceLocked(name));
  ARROW_ASSIGN_OR_RAISE(auto created, CreateDataset(name, *batch->schema()));
  ARROW_ASSIGN_OR_RAISE(*dataset, ReserveName(name, created));
  if (*dataset) return AppendChecked(**dataset, batch, held_ids);  // another put created it
  // Published only once its creation and first batch are durable.
  auto committed = created->Commit(AppendMutation{batch, /*log_creation=*/true}, Log());
  FinishCreation(name, committed.ok());
  if (!committed.ok()) return CountRefusal(committed.status());
  // Notified once the name is published: the index workers find the dataset by name.
  if (auto workers = index_workers_.load()) workers->Notify(created->name());
  *dataset = std::move(created);
  return Acknowledge(*committed);
}

arrow::Result<PutAck> VectorStore::AppendChecked(Dataset& dataset,
                                                 const std::shared_ptr<arrow::RecordBatch>& batch,
                                                 HeldIds held_ids) {
  ARROW_RETURN_NOT_OK(CheckOptionsAgree(*batch->schema(), *dataset.schema(), dataset.name()));
  return Append(dataset, batch, held_ids);
}

arrow::Result<PutAck> VectorStore::Append(Dataset& dataset,
                                          const std::shared_ptr<arrow::RecordBatch>& batch,
                                          HeldIds held_ids) {
  auto committed = dataset.Commit(
      AppendMutation{.batch = batch, .log_creation = false, .held_ids = held_ids}, Log());
  if (!committed.ok()) return CountRefusal(committed.status());
  if (auto workers = index_workers_.load()) workers->Notify(dataset.name());
  return Acknowledge(*committed);
}

arrow::Result<int64_t> VectorStore::AdoptSegment(Dataset& dataset, const SegmentMutation& segment) {
  auto committed = dataset.Commit(segment, Log());
  if (!committed.ok()) return CountRefusal(committed.status());
  // The rows of the segment sealed before it may wait for the index; the adopted ones do not.
  if (auto workers = index_workers_.load()) workers->Notify(dataset.name());
  if (!segment.deleted.isEmpty()) MaybeCompact(dataset);
  MaybeMerge(dataset);
  return committed->rows;
}

arrow::Status VectorStore::CountRefusal(arrow::Status status) {
  if (status.IsCapacityError()) ingest_.rejected.fetch_add(1, std::memory_order_relaxed);
  return status;
}

arrow::Result<int64_t> VectorStore::Delete(Dataset& dataset, const arrow::Array& ids) {
  ARROW_ASSIGN_OR_RAISE(const Committed committed, dataset.Commit(DeleteMutation{ids}, Log()));
  if (committed.rows > 0) MaybeCompact(dataset);
  return committed.rows;
}

arrow::Result<int64_t> VectorStore::AddEdges(Dataset& dataset, const arrow::RecordBatch& edges) {
  ARROW_ASSIGN_OR_RAISE(const Committed committed, dataset.Commit(EdgesMutation{edges}, Log()));
  return committed.rows;
}

arrow::Result<std::shared_ptr<Dataset>> VectorStore::Get(std::string_view name) const {
  ReaderLock lock(&mutex_);
  auto it = datasets_.find(name);
  if (it == datasets_.end()) {
    ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
    return arrow::Status::KeyError("dataset '", name, "' not found");
  }
  return it->second;
}

arrow::Status VectorStore::Drop(std::string_view name) {
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Dataset> dataset, Get(name));
  // Logged without the map's lock: other datasets go on meanwhile.
  ARROW_RETURN_NOT_OK(dataset->Drop(Log()));
  const DatasetSnapshot dropped = dataset->Snapshot();
  spdlog::info("dropped dataset '{}': {} rows, {} bytes", name, dropped.live_rows(),
               dropped.num_bytes);
  WriterLock lock(&mutex_);
  if (auto it = datasets_.find(name); it != datasets_.end() && it->second == dataset) {
    datasets_.erase(it);
  }
  return arrow::Status::OK();
}

std::vector<std::shared_ptr<Dataset>> VectorStore::List(bool with_creations) const {
  ReaderLock lock(&mutex_);
  std::vector<std::shared_ptr<Dataset>> result;
  result.reserve(datasets_.size());
  for (const auto& [name, dataset] : datasets_) result.push_back(dataset);
  if (with_creations) {
    for (const auto& [name, dataset] : creating_) result.push_back(dataset);
  }
  return result;
}

arrow::Status VectorStore::ApplyLogged(const WalEntry& entry) {
  WriterLock lock(&mutex_);
  auto it = datasets_.find(entry.dataset);
  switch (entry.type) {
    case WalRecordType::kCreateDataset: {
      if (it != datasets_.end()) {
        return arrow::Status::Invalid("WAL record ", entry.lsn, " creates dataset '", entry.dataset,
                                      "', which already exists");
      }
      // Never refused: the dataset was promised (a lower --max-memory or --max-dimension than
      // when it was created still lets it load).
      ARROW_ASSIGN_OR_RAISE(auto created, Dataset::Create(entry.dataset, *entry.schema, &budget_,
                                                          {}, ChargeMode::kAlways));
      created->set_created_lsn(entry.lsn);
      datasets_.emplace(entry.dataset, std::move(created));
      return arrow::Status::OK();
    }
    case WalRecordType::kAppend:
    case WalRecordType::kUpsert:  // entry.rows: none for an append
      if (it == datasets_.end()) break;
      return it->second->AppendRecovered(entry.batch, entry.lsn, entry.rows);
    case WalRecordType::kDelete: {
      if (it == datasets_.end()) break;
      ARROW_RETURN_NOT_OK(it->second->DeleteRecovered(entry.rows, entry.lsn));
      if (it->second->graph().empty()) return arrow::Status::OK();
      ARROW_ASSIGN_OR_RAISE(auto ids, IdsOfRows(it->second->Snapshot(), entry.rows));
      it->second->graph().RemoveNodes(ids);
      return arrow::Status::OK();
    }
    case WalRecordType::kCompact:
      if (it == datasets_.end()) break;
      return it->second->CompactRecovered(entry.rows, entry.lsn);
    case WalRecordType::kRekey:  // entry.rows: the retired keys (recovery checked them)
      if (it == datasets_.end()) break;
      return it->second->RekeyRecovered(entry.rows, entry.lsn);
    case WalRecordType::kDropDataset:
      if (it == datasets_.end()) break;
      it->second->MarkDropped();
      datasets_.erase(it);
      return arrow::Status::OK();
    case WalRecordType::kRowCount:
      if (it == datasets_.end()) break;
      return arrow::Status::OK();  // checked by recovery; changes nothing
    case WalRecordType::kCreateNamespace:
    case WalRecordType::kDropNamespace:
      return ApplyNamespaceLogged(entry);  // its datasets' drops were applied first
    case WalRecordType::kEdges:
      if (it == datasets_.end()) break;
      if (!entry.batch) {
        return arrow::Status::Invalid("WAL record ", entry.lsn, " logs edges of dataset '",
                                      entry.dataset, "' without a batch");
      }
      return it->second->EdgesRecovered(*entry.batch, entry.lsn);
  }
  return arrow::Status::Invalid("WAL record ", entry.lsn, " refers to dataset '", entry.dataset,
                                "', which does not exist at that point of the log");
}

arrow::Status VectorStore::LogRowCount(Dataset& dataset) { return dataset.LogRowCount(Log()); }

arrow::Status VectorStore::AddRestored(std::shared_ptr<Dataset> dataset) {
  dataset->ChargeIndexMemory();  // its text index, rebuilt as the snapshot loaded
  WriterLock lock(&mutex_);
  const std::string name = dataset->name();
  if (!datasets_.emplace(name, std::move(dataset)).second) {
    return arrow::Status::Invalid("dataset '", name, "' is restored twice");
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
