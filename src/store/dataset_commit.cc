// Dataset's commit path (declared in dataset.h): the only way a logged change enters a dataset.
// Every change follows the same steps, under the dataset's private mutexes:
//   1. validate and resolve (a put's batch conformed and charged, a delete's ids to rows, edges'
//      endpoints checked), under delete_mutex_ where rows are resolved;
//   2. queue the record to the log under append_mutex_, taking the change's turn in the
//      publication order (so log order = publication order = row numbering), noting its LSN
//      and the row count its record logs;
//   3. wait until the record is durable, without append_mutex_ (other puts queue meanwhile and
//      share the fsync: group commit);
//   4. publish in its turn (Resolve), or give the turn and the charged memory back when the log
//      failed.
#include <arrow/array.h>
#include <spdlog/spdlog.h>

#include <unordered_set>
#include <utility>

#include "graph/edge_batch.h"
#include "store/dataset.h"
#include "store/dataset_edges.h"
#include "store/id_lookup.h"
#include "store/tombstones.h"

namespace arbalest {

Roaring KeysOfRows(const RowKeys& keys, const Roaring& rows) {
  Roaring out;
  for (const uint32_t row : rows) out.add(static_cast<uint32_t>(keys.KeyOf(row)));
  out.runOptimize();
  return out;
}

arrow::Result<WalTicket> CommitLog::Enqueue(arrow::Result<WalPayload> payload,
                                            std::function<void()> on_failure) const {
  if (!wal_) return WalTicket{};
  ARROW_RETURN_NOT_OK(payload.status());
  return wal_->Enqueue(std::move(*payload), std::move(on_failure));
}

arrow::Result<std::vector<WalTicket>> CommitLog::EnqueueAll(
    std::vector<arrow::Result<WalPayload>> payloads, std::function<void()> on_failure) const {
  std::vector<WalPayload> records;
  for (auto& payload : payloads) {
    ARROW_RETURN_NOT_OK(payload.status());
    records.push_back(std::move(*payload));
  }
  if (!wal_) return std::vector<WalTicket>(records.size());
  return wal_->EnqueueAll(std::move(records), std::move(on_failure));
}

arrow::Status CommitLog::Wait(const WalTicket& ticket) const {
  return wal_ ? wal_->Wait(ticket) : arrow::Status::OK();
}

arrow::Result<Committed> Dataset::Commit(const AppendMutation& append, const CommitLog& log) {
  if (!layout_.unique_id) return CommitAppendInTurn(append, log);
  // A put into a dataset whose ids are unique holds delete_mutex_ until it is published: every
  // change logged before it is published when it resolves the rows it replaces
  // (ResolveReplaced), so the id map it reads is the log's state.
  MutexLock serial(&delete_mutex_);
  const auto ids = append.batch->GetColumnByName(std::string(kIdColumn));
  if (append.held_ids == HeldIds::kReplace || append.log_creation || !ids ||
      ids->null_count() > 0) {
    // A new dataset holds no id; a batch without ids, or with null ones, is refused whole.
    return CommitAppendInTurn(append, log);
  }
  // Under delete_mutex_ no other put or delete of the dataset publishes until this one has:
  // the rows found held stay held.
  Roaring held;
  ARROW_RETURN_NOT_OK(FindRowsOfHeldIds({append.batch}, &held));
  if (held.isEmpty()) return CommitAppendInTurn(append, log);
  if (held.cardinality() == static_cast<uint64_t>(append.batch->num_rows())) return Committed{};
  AppendMutation rest = append;
  ARROW_ASSIGN_OR_RAISE(rest.batch, DropRows(append.batch, held, 0));
  return CommitAppendInTurn(rest, log);
}

arrow::Result<Committed> Dataset::CommitAppendInTurn(const AppendMutation& append,
                                                     const CommitLog& log) {
  PreparedAppend prepared;
  arrow::Status queued;
  {
    MutexLock order(&append_mutex_);
    AwaitNoDrop();
    ARROW_ASSIGN_OR_RAISE(prepared, Prepare(append.batch));
    queued = QueueAppend(&prepared, append.log_creation, log);
  }
  // Given up off append_mutex_: its turn waits for the changes queued before it, and the log
  // takes back records that failed under that mutex (WalWriter::Enqueue's on_failure).
  if (!queued.ok()) {
    Discard(prepared);
    return queued;
  }
  TokenizeText(&prepared);  // while the log writes the batch
  if (arrow::Status durable = log.Wait(prepared.record); !durable.ok()) {
    Discard(prepared);
    return durable;
  }
  Publish(prepared);
  return Committed{prepared.batch->num_rows(), prepared.bytes, prepared.record.lsn};
}

arrow::Status Dataset::QueueAppend(PreparedAppend* prepared, bool log_creation,
                                   const CommitLog& log) {
  if (layout_.unique_id) {
    delete_mutex_.AssertHeld();  // Commit holds it for unique ids
    ARROW_RETURN_NOT_OK(ResolveReplaced(prepared));
  }
  // The key of the append's first row: replay places its rows by it and notices a gap (a lost
  // record). An append that replaces rows (unique ids) logs their keys with it, in one record.
  const int64_t rows = prepared->batch->num_rows();
  ARROW_RETURN_NOT_OK(CheckKeysLeft(rows));
  arrow::Result<WalPayload> encoded;
  if (log.row_numbers()) {
    encoded = prepared->replaced.isEmpty()
                  ? EncodeAppend(name_, *prepared->batch, logged_rows_)
                  : EncodeUpsert(name_, *prepared->batch, prepared->replaced, logged_rows_);
  } else {
    encoded = prepared->replaced.isEmpty()
                  ? EncodeKeyedAppend(name_, *prepared->batch, next_key_)
                  : EncodeKeyedUpsert(name_, *prepared->batch,
                                      KeysOfRows(*row_keys(), prepared->replaced), next_key_);
  }
  auto take_back = [this, rows] { RevertLoggedRows(rows, rows); };
  if (log_creation) {
    // A new dataset's creation goes into the log with its first batch, or not at all: alone,
    // it would be in the log of a dataset the server does not have, and a retried put would
    // log a second creation that a restart refuses.
    std::vector<arrow::Result<WalPayload>> records;
    records.push_back(EncodeCreateDataset(name_, put_schema_));
    records.push_back(std::move(encoded));
    ARROW_ASSIGN_OR_RAISE(std::vector<WalTicket> tickets,
                          log.EnqueueAll(std::move(records), std::move(take_back)));
    set_created_lsn(tickets[0].lsn);
    prepared->record = std::move(tickets[1]);
  } else {
    ARROW_ASSIGN_OR_RAISE(prepared->record, log.Enqueue(std::move(encoded), std::move(take_back)));
  }
  if (log.attached()) NoteLogged(prepared->record.lsn);
  logged_rows_ += rows;
  next_key_ += static_cast<uint64_t>(rows);
  return arrow::Status::OK();
}

arrow::Status Dataset::CheckKeysLeft(int64_t rows) const {
  if (next_key_ + static_cast<uint64_t>(rows) <= kMaxRowKeys) return arrow::Status::OK();
  return arrow::Status::CapacityError(
      "dataset '", name_, "' has taken ", next_key_, " row keys; ", rows,
      " more would pass 2^32 (a compaction renumbers them densely once deleted rows' keys pass "
      "--compact-rekey-keys: delete and compact, or split the dataset)");
}

arrow::Result<Dataset::QueuedChange> Dataset::LogChange(
    const CommitLog& log, const std::function<arrow::Result<WalPayload>(int64_t)>& encode,
    int64_t row_delta, int64_t key_delta) {
  QueuedChange change;
  {
    MutexLock order(&append_mutex_);
    AwaitNoDrop();
    if (dropped()) return arrow::Status::KeyError("dataset '", name_, "' was deleted");
    if (encode) {
      std::function<void()> on_failure;
      if (row_delta != 0 || key_delta != 0) {
        on_failure = [this, row_delta, key_delta] { RevertLoggedRows(row_delta, key_delta); };
      }
      ARROW_ASSIGN_OR_RAISE(change.ticket,
                            log.Enqueue(encode(logged_rows_), std::move(on_failure)));
      if (log.attached()) NoteLogged(change.ticket.lsn);
      next_key_ += static_cast<uint64_t>(key_delta);
    }
    change.turn = TakeTurn();
    logged_rows_ += row_delta;
  }
  if (!encode) return change;  // nothing logged: nothing to wait for
  if (arrow::Status durable = log.Wait(change.ticket); !durable.ok()) {
    SkipTurn(change.turn);
    return durable;
  }
  return change;
}

namespace {

// Removes the edges of the rows carrying `ids` (rows just deleted) from `graph`.
void RemoveEdgesOf(DatasetGraph& graph, const arrow::Array& ids, const std::string& dataset) {
  if (graph.empty()) return;
  if (ids.type_id() != arrow::Type::INT64 && ids.type_id() != arrow::Type::UINT64) return;
  std::unordered_set<int64_t> removed;
  const auto* values = ids.data()->GetValues<int64_t>(1);
  for (int64_t i = 0; i < ids.length(); ++i) {
    if (ids.IsValid(i)) removed.insert(values[i]);
  }
  const int64_t edges = graph.RemoveNodes(removed);
  if (edges > 0) spdlog::debug("dataset '{}': {} edges of deleted rows removed", dataset, edges);
}

}  // namespace

arrow::Result<Committed> Dataset::Commit(const DeleteMutation& del, const CommitLog& log) {
  MutexLock deletes(&delete_mutex_);
  // Resolved without append_mutex_: published rows never change, and the record below follows
  // the appends of every row it names in the log, so replay numbers them alike.
  DatasetSnapshot snapshot;
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(*this, del.ids, &snapshot));
  if (rows.isEmpty()) return Committed{};
  // Logged by key: the snapshot's keys are current (compactions publish under delete_mutex_).
  const Roaring keys = log.row_numbers() ? Roaring() : KeysOfRows(snapshot.row_keys(), rows);
  ARROW_ASSIGN_OR_RAISE(QueuedChange change,
                        LogChange(
                            log,
                            [&](int64_t logged_rows) {
                              return log.row_numbers() ? EncodeDelete(name_, rows, logged_rows)
                                                       : EncodeKeyedDelete(name_, keys);
                            },
                            0));
  // The rows' edges go first: no reader sees the rows deleted and their edges still there.
  RemoveEdgesOf(*graph_, del.ids, name_);
  PublishDeletes(rows, change.turn, change.ticket.lsn);
  return Committed{static_cast<int64_t>(rows.cardinality()), 0, change.ticket.lsn};
}

arrow::Result<Committed> Dataset::Commit(const EdgesMutation& edges, const CommitLog& log) {
  ARROW_RETURN_NOT_OK(CheckGraphIds(*this));
  if (edges.edges.num_rows() == 0) return arrow::Status::Invalid("no edges given");
  ARROW_ASSIGN_OR_RAISE(auto canonical, ConformEdges(edges.edges));
  // Held from the check of the endpoints until the edges are published, as a delete holds it
  // from resolving its rows until their edges are gone: a delete comes wholly before the check
  // (which then refuses its ids) or wholly after the append (and removes the new edges), in the
  // log as in memory, so an edge never names a deleted row, before or after a restart.
  MutexLock deletes(&delete_mutex_);
  ARROW_RETURN_NOT_OK(CheckEdgeEndpoints(Snapshot(), *canonical, name_));
  ARROW_ASSIGN_OR_RAISE(const int64_t reserved, graph_->Reserve(canonical->num_rows()));
  auto change = LogChange(
      log, [&](int64_t) { return EncodeEdges(name_, *canonical); }, 0);
  if (!change.ok()) {
    graph_->Unreserve(reserved);
    return change.status();
  }
  const EdgeRows rows = EdgeRowsOf(*canonical);
  Resolve(
      change->turn, [&] { graph_->Append(rows, reserved); }, change->ticket.lsn);
  return Committed{canonical->num_rows(), 0, change->ticket.lsn};
}

arrow::Status Dataset::EdgesRecovered(const arrow::RecordBatch& edges, uint64_t lsn) {
  if (!edges.schema()->Equals(*EdgeSchema())) {
    return arrow::Status::Invalid("WAL record ", lsn, " logs edges of dataset '", name_,
                                  "' in an unknown layout");
  }
  uint64_t turn;
  {
    MutexLock order(&append_mutex_);
    turn = TakeTurn();
    NoteLogged(lsn);
  }
  const EdgeRows rows = EdgeRowsOf(edges);
  Resolve(
      turn, [&] { graph_->Append(rows, 0); }, lsn);
  return arrow::Status::OK();
}

arrow::Status Dataset::Drop(const CommitLog& log) {
  // Every change is logged either before the drop, or not at all: none is queued from here
  // until the drop is durable (dropping_). A drop that fails to be logged leaves the dataset
  // as it was. The log is waited for without append_mutex_, which the log's take-backs of the
  // dataset's failed records need before it answers the drop.
  WalTicket ticket;
  {
    MutexLock order(&append_mutex_);
    AwaitNoDrop();
    if (dropped()) return arrow::Status::KeyError("dataset '", name_, "' not found");
    ARROW_ASSIGN_OR_RAISE(ticket, log.Enqueue(EncodeDropDataset(name_)));
    dropping_ = true;
  }
  const arrow::Status durable = log.Wait(ticket);
  MutexLock order(&append_mutex_);
  ResolveDrop(durable.ok());
  return durable;
}

void Dataset::ResolveDrop(bool logged) {
  if (logged) MarkDropped();
  dropping_ = false;
  drop_resolved_.SignalAll();
}

arrow::Result<Dataset::DroppedTogether> Dataset::DropTogether(
    const std::vector<std::shared_ptr<Dataset>>& datasets,
    const std::function<arrow::Result<WalPayload>(const std::vector<std::string>& names)>& encode,
    const CommitLog& log) {
  // As Drop, for each of `datasets`: their append_mutex_ taken in the order of `datasets` (the
  // store's: by name) and released in reverse, so every change of these datasets is logged
  // before the record or not at all.
  for (const auto& dataset : datasets) {
    dataset->append_mutex_.Lock();
    dataset->AwaitNoDrop();
  }
  DroppedTogether result;
  for (const auto& dataset : datasets) {
    if (!dataset->dropped()) result.names.push_back(dataset->name());
  }
  auto ticket = log.Enqueue(encode(result.names));
  for (auto it = datasets.rbegin(); it != datasets.rend(); ++it) {
    if (ticket.ok()) (*it)->dropping_ = true;
    (*it)->append_mutex_.Unlock();
  }
  ARROW_RETURN_NOT_OK(ticket.status());
  const arrow::Status durable = log.Wait(*ticket);
  for (const auto& dataset : datasets) {
    MutexLock order(&dataset->append_mutex_);
    dataset->ResolveDrop(durable.ok());
  }
  ARROW_RETURN_NOT_OK(durable);
  result.lsn = ticket->lsn;
  return result;
}

arrow::Status Dataset::LogCreation(const CommitLog& log) {
  ARROW_ASSIGN_OR_RAISE(WalTicket ticket, log.Enqueue(EncodeCreateDataset(name_, put_schema_)));
  ARROW_RETURN_NOT_OK(log.Wait(ticket));
  set_created_lsn(ticket.lsn);
  return arrow::Status::OK();
}

arrow::Status Dataset::LogRowCount(const CommitLog& log) {
  WalTicket ticket;
  {
    MutexLock order(&append_mutex_);
    AwaitNoDrop();
    ARROW_ASSIGN_OR_RAISE(ticket, log.Enqueue(EncodeRowCount(name_, logged_rows_)));
  }
  return log.Wait(ticket);
}

arrow::Result<int64_t> Dataset::Append(const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(const Committed committed, Commit(AppendMutation{batch}, CommitLog()));
  return committed.rows;
}

}  // namespace arbalest
