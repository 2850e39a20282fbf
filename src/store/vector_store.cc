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

arrow::Result<WalTicket> VectorStore::Log(arrow::Result<WalPayload> payload,
                                          std::function<void()> on_failure) {
  if (!wal_) return WalTicket{};
  ARROW_RETURN_NOT_OK(payload.status());
  return wal_->Enqueue(std::move(*payload), std::move(on_failure));
}

arrow::Result<std::pair<WalTicket, WalTicket>> VectorStore::LogCreateAndAppend(
    arrow::Result<WalPayload> create, arrow::Result<WalPayload> append,
    std::function<void()> on_failure) {
  ARROW_RETURN_NOT_OK(create.status());
  ARROW_RETURN_NOT_OK(append.status());
  if (!wal_) return std::pair<WalTicket, WalTicket>{};
  std::vector<WalPayload> records;
  records.push_back(std::move(*create));
  records.push_back(std::move(*append));
  ARROW_ASSIGN_OR_RAISE(std::vector<WalTicket> tickets,
                        wal_->EnqueueAll(std::move(records), std::move(on_failure)));
  return std::pair{std::move(tickets[0]), std::move(tickets[1])};
}

arrow::Status VectorStore::WaitLogged(const WalTicket& ticket) {
  return wal_ ? wal_->Wait(ticket) : arrow::Status::OK();
}

arrow::Result<PutAck> VectorStore::LogAndPublish(Dataset& dataset,
                                                 const std::shared_ptr<arrow::RecordBatch>& batch,
                                                 bool log_create) {
  if (!dataset.layout().unique_id) return LogAndPublishInTurn(dataset, batch, log_create);
  // A put into a dataset whose ids are unique holds the dataset's delete mutex until it is
  // published: every change logged before it is published when it resolves the rows it
  // replaces (Dataset::ResolveReplaced), so the id map it reads is the log's state.
  MutexLock serial(&dataset.delete_mutex());
  return LogAndPublishInTurn(dataset, batch, log_create);
}

arrow::Result<PutAck> VectorStore::LogAndPublishInTurn(
    Dataset& dataset, const std::shared_ptr<arrow::RecordBatch>& batch, bool log_create) {
  PreparedAppend prepared;
  WalTicket ticket;
  arrow::Status logged = arrow::Status::OK();
  {
    MutexLock order(&dataset.append_mutex());
    auto ready = dataset.Prepare(batch);
    if (!ready.ok()) {
      if (ready.status().IsCapacityError())
        ingest_.rejected.fetch_add(1, std::memory_order_relaxed);
      return ready.status();
    }
    prepared = std::move(*ready);
    // The append's first row number: checked by replay, so that a lost record is noticed.
    const int64_t rows = prepared.batch->num_rows();
    auto take_back = [&dataset, rows] { dataset.RevertLoggedRows(rows); };
    if (dataset.layout().unique_id) {
      dataset.delete_mutex().AssertHeld();  // LogAndPublish holds it for unique ids
      logged = dataset.ResolveReplaced(&prepared);
    }
    // An append that replaces rows (unique ids) logs them with it, in one record.
    const int64_t first_row = dataset.logged_rows();
    const auto encode_append = [&]() {
      return prepared.replaced.isEmpty()
                 ? EncodeAppend(dataset.name(), *prepared.batch, first_row)
                 : EncodeUpsert(dataset.name(), *prepared.batch, prepared.replaced, first_row);
    };
    if (!logged.ok()) {
      // Nothing logged: given up below.
    } else if (log_create) {
      // A new dataset's creation goes into the log with its first batch, or not at all: alone,
      // it would be in the log of a dataset the server does not have, and a retried put would
      // log a second creation that a restart refuses.
      auto tickets = LogCreateAndAppend(EncodeCreateDataset(dataset.name(), dataset.put_schema()),
                                        encode_append(), take_back);
      logged = tickets.status();
      if (tickets.ok()) {
        dataset.set_created_lsn(tickets->first.lsn);
        ticket = std::move(tickets->second);
      }
    } else {
      auto appended = Log(encode_append(), take_back);
      logged = appended.status();
      if (appended.ok()) ticket = std::move(*appended);
    }
    if (logged.ok()) {
      dataset.NoteLogged(ticket.lsn);
      dataset.AddLoggedRows(rows);
    }
    prepared.lsn = ticket.lsn;
  }
  // Given up off the append mutex: its turn waits for the changes queued before it, and the
  // log takes back records that failed under that mutex (WalWriter::Enqueue's on_failure).
  if (!logged.ok()) {
    dataset.Discard(prepared);
    return logged;
  }
  dataset.TokenizeText(&prepared);  // while the log writes the batch
  if (arrow::Status durable = WaitLogged(ticket); !durable.ok()) {
    dataset.Discard(prepared);
    return durable;
  }
  dataset.Publish(prepared);
  if (auto workers = index_workers_.load()) workers->Notify(dataset.name());
  const PutAck ack{prepared.batch->num_rows(), wal_ ? ticket.lsn : next_seq_.fetch_add(1),
                   budget_.OverSoftLimit()};
  ingest_.batches.fetch_add(1, std::memory_order_relaxed);
  ingest_.rows.fetch_add(ack.rows, std::memory_order_relaxed);
  ingest_.bytes.fetch_add(prepared.bytes, std::memory_order_relaxed);
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
      share_vectors, [this] { budget_.ReturnFreed(); });
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
  if (options.deleted_fraction <= 0) return;
  compactor_ = std::make_unique<Compactor>(
      [this](const std::string& name, const std::function<bool()>& cancelled) {
        auto dataset = Get(name);
        // Compacted meanwhile (the `compact` action), or dropped: nothing to do.
        if (!dataset.ok() || !ShouldCompact((*dataset)->Snapshot(), compaction_options_)) return;
        auto report = Compact(**dataset, cancelled);
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

arrow::Result<CompactionReport> VectorStore::Compact(Dataset& dataset,
                                                     const std::function<bool()>& cancelled) {
  MutexLock maintenance(&dataset.maintenance_mutex());
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<CompactionPlan> plan,
                        dataset.PlanCompaction(std::nullopt, compaction_options_.threads,
                                               [&] { return cancelled() || dataset.dropped(); }));
  if (plan->dropped().isEmpty()) return CompactionReport{};
  // Held until published: a delete resolved in the old numbering must not publish after it.
  MutexLock deletes(&dataset.delete_mutex());
  if (cancelled()) return arrow::Status::Cancelled("compaction abandoned");
  const Roaring& dropped = plan->dropped();
  ARROW_ASSIGN_OR_RAISE(
      LoggedChange change,
      LogChange(
          dataset,
          [&](int64_t logged_rows) { return EncodeCompact(dataset.name(), dropped, logged_rows); },
          -static_cast<int64_t>(dropped.cardinality())));
  const CompactionReport report = dataset.PublishCompaction(*plan, change.turn, change.lsn);
  plan.reset();        // indexing resumes: the rows past the compacted graph
  ReturnFreeMemory();  // the dropped rows' batches and the old graph
  if (auto workers = index_workers_.load()) workers->Notify(dataset.name());
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
      auto logged = [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(WalTicket ticket,
                              Log(EncodeCreateDataset(name, created->put_schema())));
        ARROW_RETURN_NOT_OK(WaitLogged(ticket));
        created->set_created_lsn(ticket.lsn);
        return arrow::Status::OK();
      }();
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
                                       std::shared_ptr<Dataset>* dataset) {
  ARROW_RETURN_NOT_OK(ValidateDatasetName(name));
  *dataset = Find(name);
  if (*dataset) return AppendChecked(**dataset, batch);
  std::shared_lock namespace_held(namespaces_.mutex());  // no drop of it until created
  ARROW_RETURN_NOT_OK(namespaces_.CheckDatasetNamespaceLocked(name));
  ARROW_ASSIGN_OR_RAISE(auto created, CreateDataset(name, *batch->schema()));
  ARROW_ASSIGN_OR_RAISE(*dataset, ReserveName(name, created));
  if (*dataset) return AppendChecked(**dataset, batch);  // another put created it meanwhile
  // Published only once its creation and first batch are durable.
  auto ack = LogAndPublish(*created, batch, /*log_create=*/true);
  FinishCreation(name, ack.ok());
  if (!ack.ok()) return ack;
  // LogAndPublish's notice reached the index workers before the name was published, when they
  // could not find the dataset yet.
  if (auto workers = index_workers_.load()) workers->Notify(created->name());
  *dataset = std::move(created);
  return ack;
}

arrow::Result<PutAck> VectorStore::AppendChecked(Dataset& dataset,
                                                 const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_RETURN_NOT_OK(CheckOptionsAgree(*batch->schema(), *dataset.schema(), dataset.name()));
  return Append(dataset, batch);
}

arrow::Result<PutAck> VectorStore::Append(Dataset& dataset,
                                          const std::shared_ptr<arrow::RecordBatch>& batch) {
  return LogAndPublish(dataset, batch, /*log_create=*/false);
}

arrow::Result<int64_t> VectorStore::Delete(Dataset& dataset, const arrow::Array& ids) {
  MutexLock deletes(&dataset.delete_mutex());
  // Resolved without the append mutex: published rows never change, and the record below
  // follows the appends of every row it names in the log, so replay numbers them alike.
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(dataset.Snapshot(), ids));
  if (rows.isEmpty()) return 0;
  ARROW_ASSIGN_OR_RAISE(
      LoggedChange change,
      LogChange(
          dataset,
          [&](int64_t logged_rows) { return EncodeDelete(dataset.name(), rows, logged_rows); }, 0));
  // The rows' edges go first: no reader sees the rows deleted and their edges still there.
  RemoveEdgesOf(dataset, ids);
  dataset.PublishDeletes(rows, change.turn, change.lsn);
  MaybeCompact(dataset);
  return static_cast<int64_t>(rows.cardinality());
}

arrow::Result<VectorStore::LoggedChange> VectorStore::LogChange(
    Dataset& dataset, const std::function<arrow::Result<WalPayload>(int64_t logged_rows)>& encode,
    int64_t row_delta) {
  WalTicket ticket;
  LoggedChange change;
  {
    MutexLock order(&dataset.append_mutex());
    if (dataset.dropped()) {
      return arrow::Status::KeyError("dataset '", dataset.name(), "' was deleted");
    }
    std::function<void()> on_failure;
    if (row_delta != 0) on_failure = [&dataset, row_delta] { dataset.RevertLoggedRows(row_delta); };
    ARROW_ASSIGN_OR_RAISE(ticket, Log(encode(dataset.logged_rows()), std::move(on_failure)));
    change.turn = dataset.TakeTurn();
    dataset.NoteLogged(ticket.lsn);
    dataset.AddLoggedRows(row_delta);
  }
  if (arrow::Status durable = WaitLogged(ticket); !durable.ok()) {
    dataset.SkipTurn(change.turn);
    return durable;
  }
  change.lsn = ticket.lsn;
  return change;
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
  {
    // Under the append mutex until the drop is durable: every append is logged either before
    // the drop, or not at all. A drop that fails to be logged leaves the dataset as it was.
    // The map's lock is not held meanwhile: other datasets go on.
    MutexLock order(&dataset->append_mutex());
    if (dataset->dropped()) return arrow::Status::KeyError("dataset '", name, "' not found");
    ARROW_ASSIGN_OR_RAISE(WalTicket ticket, Log(EncodeDropDataset(name)));
    ARROW_RETURN_NOT_OK(WaitLogged(ticket));
    dataset->MarkDropped();
  }
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
                                                          "", ChargeMode::kAlways));
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
      return ApplyEdgesLogged(*it->second, entry);
  }
  return arrow::Status::Invalid("WAL record ", entry.lsn, " refers to dataset '", entry.dataset,
                                "', which does not exist at that point of the log");
}

arrow::Status VectorStore::LogRowCount(Dataset& dataset) {
  WalTicket ticket;
  {
    MutexLock order(&dataset.append_mutex());
    ARROW_ASSIGN_OR_RAISE(ticket, Log(EncodeRowCount(dataset.name(), dataset.logged_rows())));
  }
  return WaitLogged(ticket);
}

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
