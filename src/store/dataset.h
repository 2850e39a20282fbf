// A named collection of rows: the Arrow record batches put into it, in log order, under one
// evolving schema. The unit that DoPut appends to and that scans and searches read.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "graph/dataset_graph.h"
#include "store/dataset_index.h"
#include "store/dataset_layout.h"
#include "store/dataset_text.h"
#include "store/id_row_map.h"
#include "store/memory_budget.h"
#include "store/tombstones.h"

namespace arbalest {

// A consistent view of a dataset: every batch whole, none half-appended, and the rows deleted
// at that moment. Batches appended before a schema evolution lack the newer (nullable)
// columns; readers pad them with nulls (PadToSchema in scan.h). Deleted rows stay in the
// batches; readers leave out the rows in `deleted` (every one of them is below num_rows).
struct DatasetSnapshot {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t num_rows = 0;  // stored rows, deleted ones included
  int64_t num_bytes = 0;
  std::shared_ptr<const TombstoneSet> deleted = TombstoneSet::Empty();

  // Every logged change of the dataset (append, delete or compaction) with an LSN up to this
  // one is in the view, and none after it: a consistent cut for snapshots. 0 when nothing was
  // logged.
  uint64_t lsn = 0;

  // The vector index's graph, whose rows [0, indexed_rows) are the first rows of these batches,
  // and the full-text index (null without text columns), numbered like these batches: a
  // compaction renumbers rows and replaces both, so a search uses the ones of its snapshot.
  std::shared_ptr<const HnswIndex> graph;
  int64_t indexed_rows = 0;
  std::shared_ptr<DatasetText> text;

  int64_t live_rows() const { return num_rows - static_cast<int64_t>(deleted->size()); }
  // The dataset's graph edges logged up to `lsn` (null when it has none): graph/dataset_graph.h.
  std::shared_ptr<const EdgeCut> edges;
};

// A batch validated, conformed and charged to the budget, waiting to be published. It must be
// passed to exactly one of Dataset::Publish or Dataset::Discard.
struct PreparedAppend {
  std::shared_ptr<arrow::RecordBatch> batch;  // as it will be stored and logged
  int64_t bytes = 0;                          // the batch's Arrow bytes, charged to the budget
  int64_t index_bytes = 0;                    // the index memory its rows will need, charged ahead
  uint64_t ticket = 0;                        // position in the dataset's publication order
  // The batch's text, tokenized ahead of publication by Dataset::TokenizeText; unset: Publish
  // tokenizes it.
  std::optional<TextIndex::TokenizedRows> text;
  uint64_t lsn = 0;  // the append's WAL record, set by the caller once logged (0: not logged)
  // For a dataset whose ids are unique: the rows the batch replaces (Dataset::ResolveReplaced),
  // deleted when it is published.
  Roaring replaced;
};

// What one compaction reclaimed (Dataset::PublishCompaction).
struct CompactionReport {
  int64_t reclaimed_rows = 0;   // deleted rows dropped from the batches, graph and text index
  int64_t reclaimed_bytes = 0;  // Arrow bytes given back to the memory budget
  int64_t rows = 0;             // stored rows afterwards (live, and deleted meanwhile)
  uint64_t lsn = 0;             // the compaction's WAL record (0: not logged)
  double seconds = 0;           // from planning to publication
};

// Compactions since the process started (replayed ones included), for stats.
struct CompactionTotals {
  int64_t compactions = 0;
  int64_t reclaimed_rows = 0;
};

class CompactionPlan;

// What the dataset's latest snapshot on disk holds.
struct SavedSnapshot {
  uint64_t lsn = 0;  // 0: the dataset has no snapshot
  int64_t rows = 0;  // live rows
  int64_t deleted_rows = 0;
  int64_t indexed_rows = 0;
  int64_t bytes = 0;  // on disk
  // compaction_totals().compactions when it was written (or loaded): while it has not changed,
  // the rows it holds are numbered as the dataset's, and the next snapshot writes only the
  // rows added since (persist/snapshot_format.h).
  int64_t compactions = 0;
};

// Thread-safe. Appending is two-phase so that the write-ahead log can sit between validation
// and visibility: Prepare (under the caller's ordering), log, then Publish (or Discard if
// logging failed). Batches become visible in the order they were prepared. Deleting is
// likewise resolve (LiveRowsWithIds over a snapshot), log, then PublishDeletes; compacting is
// PlanCompaction (the costly part, off the publish path), log, then PublishCompaction.
class Dataset {
 public:
  // An empty dataset whose stored schema derives from `put_schema` (see StoredSchemaFor).
  // `budget` must outlive the dataset; the dataset's bytes are charged to it, starting with its
  // fixed cost (kFixedBytes and its index's link locks), which CapacityError refuses past the
  // limit under ChargeMode::kRefusable. With a `graph_file` (a snapshot's), the index graph is
  // mapped from it instead of starting empty, its vectors from `graph_vectors` when the file
  // was saved without them.
  static arrow::Result<std::shared_ptr<Dataset>> Create(
      std::string name, const arrow::Schema& put_schema, MemoryBudget* budget,
      const std::string& graph_file = "", ChargeMode mode = ChargeMode::kRefusable,
      const ExternalVectors* graph_vectors = nullptr);

  // The memory of a dataset beside its index's, charged at creation: its objects, schemas,
  // locks, WAL and search state and the allocator's overhead (measured: 1,000 one-row datasets
  // held 23 KB of RSS each beyond their index's chunks and link locks).
  static constexpr int64_t kFixedBytes = 24 << 10;
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const std::string& name() const { return name_; }
  const DatasetLayout& layout() const { return layout_; }
  // The schema the dataset was created from (logged so that replay recreates it exactly).
  const std::shared_ptr<arrow::Schema>& put_schema() const { return put_schema_; }

  // Checks that a put whose schema is `put_schema` could append to this dataset (a schema-only
  // put to an existing dataset). Invalid names the mismatch.
  arrow::Status CheckPutSchema(const arrow::Schema& put_schema) const;

  // Validates and conforms `batch` (ConformBatch) and charges its bytes, and the index memory
  // its rows will need (HnswIndex::MemoryModel, whole chunks), to the budget. The
  // caller must hold `append_mutex()`, and keep holding it until the batch is queued to the
  // log, so that log order and publication order agree. Errors: Invalid (bad batch, naming the
  // problem), CapacityError (memory limit), KeyError (the dataset was dropped).
  arrow::Result<PreparedAppend> Prepare(const std::shared_ptr<arrow::RecordBatch>& batch)
      REQUIRES(append_mutex_);

  // Tokenizes the prepared batch's text for the text index (nothing without text columns).
  // Optional: a put calls it while its batch is being logged, so that the tokenizing, the
  // costly half of text indexing, overlaps the wait for the log.
  void TokenizeText(PreparedAppend* prepared) const;

  // For a dataset whose ids are unique (DatasetLayout::unique_id): sets prepared->replaced to the
  // rows its batch replaces, numbered as its record logs them (the batch's first row being
  // logged_rows()): the live rows carrying its ids, found in the id map (O(batch)), and the
  // earlier rows of ids the batch repeats. The caller holds delete_mutex() from before Prepare
  // until the batch is published or discarded, so that every change logged before it is
  // published (puts into such a dataset run one at a time), and append_mutex().
  arrow::Status ResolveReplaced(PreparedAppend* prepared) REQUIRES(delete_mutex_, append_mutex_);

  // Makes a prepared batch visible, after every batch prepared before it has been published or
  // discarded (waits for them), and adds its rows to the text index (consuming prepared.text):
  // when Publish returns, a search finds them. The rows in prepared.replaced are deleted in the
  // same step: no reader sees the batch without their deletion, or the other way round. For a
  // dataset whose ids are unique the caller holds delete_mutex() (see ResolveReplaced).
  void Publish(PreparedAppend& prepared);

  // Gives up a prepared batch: releases its bytes and its place in the order.
  void Discard(const PreparedAppend& prepared);

  // Prepare + Publish, for appends that are not logged.
  arrow::Result<int64_t> Append(const std::shared_ptr<arrow::RecordBatch>& batch);

  // Appends a batch read back from the write-ahead log (record `lsn`) or from a snapshot taken
  // at `lsn`: already conformed when it was logged. `replaced` (an upsert's, kUpsert) are
  // deleted with it; Invalid, naming the record, when one of them is not a row of the dataset
  // or the batch.
  arrow::Status AppendRecovered(const std::shared_ptr<arrow::RecordBatch>& batch, uint64_t lsn,
                                const Roaring& replaced = Roaring());

  // The LSN of the WAL record that created the dataset (counts as logged, see NoteLogged). Set
  // once, before the dataset is shared.
  void set_created_lsn(uint64_t lsn);
  uint64_t created_lsn() const;

  // The dataset's latest snapshot on disk. Setting it also marks the dataset as holding every
  // change up to its LSN (a dataset loaded from that snapshot).
  void set_saved_snapshot(SavedSnapshot saved);
  SavedSnapshot saved_snapshot() const;

  // Records that the dataset's change `lsn` was queued to the log. The caller holds
  // append_mutex().
  void NoteLogged(uint64_t lsn) REQUIRES(append_mutex_) {
    logged_lsn_.store(lsn, std::memory_order_relaxed);
  }

  // The dataset's stored row count once every change queued to the log so far is published:
  // the row count its next record logs (an append's first row number), which replay checks.
  // The caller holds append_mutex().
  int64_t logged_rows() const REQUIRES(append_mutex_) { return logged_rows_; }
  // Adds `rows` (negative for a compaction) to logged_rows(), for a change just queued. The
  // caller holds append_mutex().
  void AddLoggedRows(int64_t rows) REQUIRES(append_mutex_) { logged_rows_ += rows; }
  // Takes back AddLoggedRows(rows) for a change the log failed to write (its
  // WalWriter::Enqueue on_failure). Locks append_mutex().
  void RevertLoggedRows(int64_t rows) EXCLUDES(append_mutex_);

  // Rows stored now, deleted ones included (Snapshot().num_rows without copying the batches).
  int64_t num_rows() const;

  // The first WAL record a restart needs to rebuild the dataset, `next_lsn` being the LSN the
  // log will give its next record (read before calling): the one that created it when it has
  // no snapshot; the one after its snapshot when it was changed since; else none that exists
  // yet (`next_lsn`).
  uint64_t FirstNeededLsn(uint64_t next_lsn);

  // The dataset's vector index, and the position of the vector column in every batch.
  DatasetIndex& index() const { return *index_; }
  int vector_column() const { return vector_column_; }

  // Indexes up to `max_rows` rows not yet indexed, with `threads` threads, until `stop` returns
  // true or the dataset is dropped; returns how many were added.
  // With `share_vectors`, the rows indexed share their vectors with the graph
  // (ShareIndexedVectors).
  arrow::Result<int64_t> CatchUpIndex(int64_t max_rows, int threads,
                                      const std::function<bool()>& stop, bool share_vectors = true);

  // Points the vector column of indexed batches at the graph's copy of their vectors, freeing
  // the copy the batches were received with (store/vector_sharing.h), a chunk of the graph
  // (4096 rows) at a time: each full chunk indexed becomes one batch; the rows of a chunk not
  // full yet keep their received copy. Indexing of the dataset waits meanwhile; scans and
  // searches do not. Datasets whose graph normalizes its copy (cosine over floats) keep two.
  arrow::Status ShareIndexedVectors();
  // Rows whose vectors the batches share with the graph (reset by a compaction until shared
  // again).
  int64_t shared_vector_rows() const;

  // Whether an indexing turn (CatchUpIndex, its sharing and memory charging included) is
  // running: check_readiness says READY only once it is over.
  bool indexing() const { return indexing_turns_.load(std::memory_order_acquire) > 0; }

  // The full-text index over the dataset's text columns now; null when it has none. Row
  // deletes take rows out of it with DatasetText::Remove; a compaction replaces it. A search
  // uses DatasetSnapshot::text instead, numbered like its rows.
  std::shared_ptr<DatasetText> text() const;

  // Brings the memory charged for the dataset beside its batches (its fixed cost, and its
  // indexes: the HNSW vectors and graph, the larger of what they hold and what their rows were
  // charged ahead, and the text postings, which grow after the put that fed them) up or down
  // to what they hold now. Walks the text index's dictionary, so it runs after indexing work,
  // not per put. Returns the bytes now charged for them.
  int64_t ChargeIndexMemory();
  // The bytes charged beside the batches (the fixed cost and the indexes), as of the last
  // ChargeIndexMemory or put.
  int64_t index_memory() const { return index_memory_.load(std::memory_order_relaxed); }

  // The mutex that orders appends (see Prepare).
  Mutex& append_mutex() RETURN_CAPABILITY(append_mutex_) { return append_mutex_; }

  // The mutex that serializes deletes, held from resolving the rows until they are published,
  // so that two deletes never count the same row.
  Mutex& delete_mutex() RETURN_CAPABILITY(delete_mutex_) { return delete_mutex_; }

  // A delete's place in the publication order, which it shares with appends: call under
  // append_mutex() when queuing the delete to the log, then pass the turn to exactly one of
  // PublishDeletes or SkipTurn. So a snapshot never sees a delete without the appends logged
  // before it, or the other way round.
  uint64_t TakeTurn() REQUIRES(append_mutex_) { return next_ticket_++; }

  // Marks `rows` (published rows, not deleted yet) deleted, in its turn (waiting for the
  // appends logged before it): scans and searches that start afterwards leave them out. The
  // caller holds delete_mutex() and has made the delete, WAL record `lsn`, durable.
  void PublishDeletes(const Roaring& rows, uint64_t turn, uint64_t lsn) REQUIRES(delete_mutex_);

  // Gives up a turn whose delete was not logged.
  void SkipTurn(uint64_t turn);

  // Applies a delete read back from the write-ahead log. Invalid, naming the record `lsn`,
  // when it names a row the dataset does not have.
  arrow::Status DeleteRecovered(const Roaring& rows, uint64_t lsn);

  // Serializes compactions and snapshots of the dataset: a snapshot's graph and rows must be
  // numbered alike, and a compaction renumbers both.
  Mutex& maintenance_mutex() RETURN_CAPABILITY(maintenance_mutex_) { return maintenance_mutex_; }

  // Builds the dataset without the rows deleted now (or without `dropped`, all deleted rows,
  // when replaying a compaction): compacted batches (small ones coalesced), a compacted graph
  // (HnswCompaction, from `threads` threads) and a rebuilt text index, none of them visible
  // yet. Indexing of the dataset pauses until the plan is published or destroyed; puts,
  // deletes and searches go on. The caller holds maintenance_mutex(). A plan that drops no row
  // needs no publishing. Cancelled once `cancelled` returns true; Invalid when `dropped` names
  // a row that is not deleted; CapacityError when memory runs out.
  arrow::Result<std::unique_ptr<CompactionPlan>> PlanCompaction(
      const std::optional<Roaring>& dropped, int threads, const std::function<bool()>& cancelled)
      REQUIRES(maintenance_mutex_);

  // Makes `plan` the dataset, in `turn` (TakeTurn): rows published since it was planned are
  // appended to it and rows deleted since stay deleted, renumbered; scans and searches that
  // start afterwards see the compacted rows, the ones in progress keep theirs. The caller holds
  // delete_mutex() (so no delete resolves rows in the old numbering meanwhile) and has made
  // the compaction, WAL record `lsn` listing plan.dropped(), durable. Puts wait for it only
  // while the rows published since the plan are added to it.
  CompactionReport PublishCompaction(CompactionPlan& plan, uint64_t turn, uint64_t lsn)
      REQUIRES(delete_mutex_);

  // Applies a compaction read back from the write-ahead log (record `lsn`): the same
  // renumbering as when it was logged. Invalid, naming the record, when `dropped` names a row
  // that is not deleted at that point.
  arrow::Status CompactRecovered(const Roaring& dropped, uint64_t lsn);

  // Compactions applied to this dataset in this process.
  CompactionTotals compaction_totals() const;

  // The rows published so far.
  DatasetSnapshot Snapshot() const;

  // DatasetSnapshot::lsn of Snapshot(), without copying the batch list.
  uint64_t last_lsn() const;

  // The current schema.
  std::shared_ptr<arrow::Schema> schema() const;

  // Marks the dataset dropped: later prepares fail, its bytes go back to the budget and its
  // indexing stops. Called by VectorStore::Drop.
  void MarkDropped();
  bool dropped() const;

  // The dataset's knowledge-graph edges (graph/dataset_graph.h; store/dataset_edges.h).
  DatasetGraph& graph() const { return *graph_; }
  // Publishes a change kept beside the rows (graph edges) in `turn` (TakeTurn): `publish` runs
  // under the state lock and the dataset's LSN becomes `lsn`, so that a snapshot's cut holds
  // the change exactly when `lsn` is within it.
  void PublishBeside(uint64_t turn, const std::function<void()>& publish, uint64_t lsn) {
    Resolve(turn, publish, lsn);
  }

 private:
  Dataset(std::string name, std::shared_ptr<arrow::Schema> put_schema,
          std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
          std::unique_ptr<DatasetIndex> index, std::shared_ptr<DatasetText> text,
          MemoryBudget* budget);
  // Publishes the change holding `ticket`, in ticket order: `publish` (null to skip the ticket)
  // runs under the state lock (so a lambda passed here is marked REQUIRES(state_mutex_)), and
  // the dataset's LSN becomes `lsn` (0: unchanged).
  void Resolve(uint64_t ticket, const std::function<void()>& publish, uint64_t lsn);
  // Publishes the append of `batch` holding `ticket` (Resolve). Returns the dataset row number
  // of the batch's first row, or nullopt when the dataset was dropped meanwhile.
  // `text` receives the text index the rows belong to.
  // `replaced` (rows of the dataset or of the batch) are deleted in the same step; the caller
  // holds delete_mutex_ when there are any.
  std::optional<int64_t> PublishBatch(uint64_t ticket,
                                      const std::shared_ptr<arrow::RecordBatch>& batch,
                                      int64_t bytes, uint64_t lsn,
                                      std::shared_ptr<DatasetText>* text,
                                      const Roaring& replaced = Roaring());
  // After a batch was published at `first_row` (unset: not published) with the `replaced` rows:
  // takes those out of `text`, and for unique ids maps the batch's ids to its rows. The caller
  // holds delete_mutex_ for a dataset whose ids are unique.
  void FinishUpsert(DatasetText* text, const arrow::RecordBatch& batch, const Roaring& replaced,
                    std::optional<int64_t> first_row);
  // Charges the id map's memory (IdRowMap::bytes) as it is now, with the index memory.
  void ChargeIdMap() REQUIRES(delete_mutex_);
  DatasetSnapshot SnapshotLocked() const REQUIRES_SHARED(state_mutex_);
  // The index memory charged ahead for `rows` rows: whole chunks of the graph's arenas for the
  // rows beyond those mapped from a snapshot (HnswIndex::MemoryModel).
  int64_t IndexReservation(int64_t rows) const;
  // Charges the `bytes` of `batch` and the index memory its rows will need, and returns the
  // latter. CapacityError (nothing charged) past the limit; with `index_mode` kAlways only the
  // batch's bytes may be refused. Requires state_mutex_ held.
  arrow::Result<int64_t> ChargeRowsLocked(const arrow::RecordBatch& batch, int64_t bytes,
                                          ChargeMode index_mode) REQUIRES(state_mutex_);
  // Adds the rows of `batch`, published at `first_row` (unset: not published), to `text` (the
  // text index current at its publication; null: none), from `tokenized` when given.
  void IndexText(DatasetText* text, const arrow::RecordBatch& batch,
                 std::optional<TextIndex::TokenizedRows> tokenized,
                 std::optional<int64_t> first_row);
  // The rows of `view` past those `plan` holds, added to it.
  void ExtendPlan(CompactionPlan& plan, const DatasetSnapshot& view);

  const std::string name_;
  const std::shared_ptr<arrow::Schema> put_schema_;
  const DatasetLayout layout_;
  const int vector_column_;
  const std::unique_ptr<DatasetIndex> index_;
  const HnswIndex::MemoryModel index_model_;  // what the graph allocates for a number of rows
  MemoryBudget* const budget_;

  // Serializes Prepare (it needs the current schema and the next assigned id) and, for logged
  // appends, queuing to the log.
  // Lock order: maintenance_mutex_, then delete_mutex_, then append_mutex_, then state_mutex_.
  Mutex append_mutex_ ACQUIRED_AFTER(delete_mutex_);
  Mutex delete_mutex_ ACQUIRED_AFTER(maintenance_mutex_);
  Mutex maintenance_mutex_;
  uint64_t next_assigned_id_ GUARDED_BY(append_mutex_) = 0;
  uint64_t next_ticket_ GUARDED_BY(append_mutex_) = 0;
  int64_t logged_rows_ GUARDED_BY(append_mutex_) = 0;
  // For a dataset whose ids are unique: each id's latest row, in the published numbering (puts
  // into such a dataset hold delete_mutex_ until they publish, so it is the logged one too).
  IdRowMap id_rows_ GUARDED_BY(delete_mutex_);
  std::atomic<uint64_t> logged_lsn_{0};  // written under append_mutex_

  // Guards the published state below; held only to publish or copy it.
  mutable SharedMutex state_mutex_ ACQUIRED_AFTER(append_mutex_);
  SharedCondVar turn_;  // signalled when next_to_publish_ advances
  uint64_t next_to_publish_ GUARDED_BY(state_mutex_) = 0;
  std::shared_ptr<arrow::Schema> schema_ GUARDED_BY(state_mutex_);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_ GUARDED_BY(state_mutex_);
  std::shared_ptr<const TombstoneSet> deleted_ GUARDED_BY(state_mutex_) = TombstoneSet::Empty();
  // Null without text columns; replaced by compactions.
  std::shared_ptr<DatasetText> text_ GUARDED_BY(state_mutex_);
  CompactionTotals compaction_totals_ GUARDED_BY(state_mutex_);
  int64_t num_rows_ GUARDED_BY(state_mutex_) = 0;
  int64_t num_bytes_ GUARDED_BY(state_mutex_) = 0;
  // Rows published or prepared: the rows whose index memory is charged ahead.
  int64_t charged_rows_ GUARDED_BY(state_mutex_) = 0;
  uint64_t published_lsn_ GUARDED_BY(state_mutex_) = 0;  // see DatasetSnapshot::lsn
  uint64_t created_lsn_ GUARDED_BY(state_mutex_) = 0;
  SavedSnapshot saved_ GUARDED_BY(state_mutex_);
  bool dropped_ GUARDED_BY(state_mutex_) = false;
  // Rows [0, shared_rows_) share their vectors with the graph (ShareIndexedVectors), lending
  // shared_allocated_bytes_ of the graph's allocated memory (charged once, with the batches).
  // Both reset when a compaction replaces the graph.
  int64_t shared_rows_ GUARDED_BY(state_mutex_) = 0;
  int64_t shared_allocated_bytes_ GUARDED_BY(state_mutex_) = 0;
  bool vectors_shareable_ GUARDED_BY(state_mutex_) = true;  // false once the graph copy differs
  std::atomic<int> indexing_turns_{0};                      // CatchUpIndex calls running
  // Bytes charged beside the batches (fixed cost and indexes); written under state_mutex_ (so
  // that a drop releases exactly what was charged), read without it.
  std::atomic<int64_t> index_memory_{0};
  int64_t id_map_bytes_ GUARDED_BY(state_mutex_) = 0;  // charged for id_rows_, in index_memory_
  const std::unique_ptr<DatasetGraph> graph_;
};

}  // namespace arbalest
