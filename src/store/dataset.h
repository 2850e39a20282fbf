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
#include "store/dataset_commit.h"
#include "store/dataset_index.h"
#include "store/dataset_layout.h"
#include "store/dataset_text.h"
#include "store/id_row_map.h"
#include "store/memory_budget.h"
#include "store/row_keys.h"
#include "store/segment.h"
#include "store/segment_merge.h"
#include "store/tombstones.h"

namespace arbalest {

// A consistent view of a dataset: every batch whole, none half-appended, and the rows deleted
// at that moment. Batches appended before a schema evolution lack the newer (nullable)
// columns; readers pad them with nulls (PadToSchema in scan.h). Deleted rows stay in the
// batches; readers leave out the rows in each segment's `deleted` set (its local rows).
struct DatasetSnapshot {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t num_rows = 0;  // stored rows, deleted ones included
  int64_t num_bytes = 0;
  int64_t deleted_rows = 0;  // the segments' deleted rows together

  // Every logged change of the dataset (append, delete, or a compaction logged by number) with
  // an LSN up to this one is in the view, and none after it: a consistent cut for snapshots. 0
  // when nothing was logged.
  uint64_t lsn = 0;

  // The segments (store/segment.h) covering these rows in order, never empty: each one's
  // graph over its linked rows; and indexed_rows, the rows linked in all of them together
  // (num_rows - indexed_rows rows wait for the index). The full-text index (null without text
  // columns) is numbered like these batches: a compaction renumbers rows and replaces the
  // graphs and the text index, so a search uses the ones of its snapshot.
  std::vector<SegmentView> segments;
  int64_t indexed_rows = 0;
  std::shared_ptr<DatasetText> text;

  int64_t live_rows() const { return num_rows - deleted_rows; }
  // Whether dataset row `row` is deleted (in its segment's set).
  bool IsDeleted(int64_t row) const { return IsDeletedRow(segments, row); }
  // Every segment's deleted rows as dataset rows, in one bitmap built afresh (one walk over
  // them): for replay's checks and tests, not for a search's path.
  Roaring DeletedRows() const { return DeletedInSegmentsPast(segments, 0); }
  // The dataset's graph edges logged up to `lsn` (null when it has none): graph/dataset_graph.h.
  std::shared_ptr<const EdgeCut> edges;
  // The dataset's row keys (store/row_keys.h): the numbering its log records name rows in,
  // which compactions extend and snapshots save. Null: key = row (a view made by hand).
  std::shared_ptr<const RowKeys> keys;

  const RowKeys& row_keys() const;
  // The key the next appended row takes: every key ever given, gone ones included.
  uint64_t next_key() const { return row_keys().NextKey(num_rows); }
};

// What one compaction reclaimed (Dataset::PublishCompaction).
struct CompactionReport {
  int64_t reclaimed_rows = 0;   // deleted rows dropped from the batches, graph and text index
  int64_t reclaimed_bytes = 0;  // Arrow bytes given back to the memory budget
  int64_t rows = 0;             // stored rows afterwards (live, and deleted meanwhile)
  uint64_t lsn = 0;             // the compaction's WAL record (0: not logged)
  double seconds = 0;           // from planning to publication
  uint64_t retired_keys = 0;    // row keys it retired (a rekey: dataset_compaction.h); 0: none
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
  // Which graph each of its segments' files hold (store/segment_files.h), in order: a segment
  // whose graph is still that object keeps its files in the next snapshot.
  std::vector<SavedGraph> graphs;
  // The dataset's layout generation it holds (Dataset::layout_generation): a merge changes
  // the segments without logging, so a snapshot is due when the generation passed it.
  uint64_t layout = 0;
};

// Thread-safe. Every logged change enters through Commit (an append, a delete, graph edges),
// Compact, Drop or DropTogether, which own the write order: under the dataset's private mutexes
// a change is validated and queued to the log (CommitLog), the log is waited for without them,
// and the change is published in its turn, so the dataset's log order, publication order and
// row numbering agree (dataset_commit.cc). Readers take a Snapshot and never wait.
class Dataset {
 public:
  // An empty dataset whose stored schema derives from `put_schema` (see StoredSchemaFor).
  // `budget` must outlive the dataset; the dataset's bytes are charged to it, starting with its
  // fixed cost (kFixedBytes and its index's link locks), which CapacityError refuses past the
  // limit under ChargeMode::kRefusable. With `graph_files` (a snapshot's, one per segment),
  // the segments' graphs are mapped from them instead of one empty graph; the rows then
  // loaded are cut into segments by RestoreSegments.
  static arrow::Result<std::shared_ptr<Dataset>> Create(
      std::string name, const arrow::Schema& put_schema, MemoryBudget* budget,
      const std::vector<DatasetIndex::GraphFile>& graph_files = {},
      ChargeMode mode = ChargeMode::kRefusable);

  // For a dataset created with graph files, before its snapshot's rows are appended
  // (AppendRecovered): segment s of the index holds rows [firsts[s], firsts[s + 1]) (the last
  // one up to `rows`, the snapshot's rows). No segment seals before the dataset holds `rows`
  // rows; later rows go to the last segment and seal it as usual.
  void RestoreSegments(std::vector<int64_t> firsts, int64_t rows) EXCLUDES(state_mutex_);

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

  // --- Changes: the only ways a logged change enters the dataset (dataset_commit.cc). ---

  // Appends a batch: validates and conforms it (ConformBatch), charges its bytes and the index
  // memory its rows will need (HnswIndex::MemoryModel, whole chunks) to the budget, queues it
  // to `log` (with the dataset's creation when append.log_creation; as an upsert, with the rows
  // it replaces, for a dataset whose ids are unique, or without its rows of ids held here when
  // append.held_ids is kKeep: Committed::rows counts the rows appended, 0 and nothing logged
  // when every id was held), waits until it is durable, then makes it
  // visible after every change queued before it: when Commit returns, scans and searches find
  // it. On any error nothing is stored and nothing charged: Invalid (bad batch, naming the
  // problem), CapacityError (memory limit), KeyError (the dataset was dropped), IOError (the
  // log could not be written).
  arrow::Result<Committed> Commit(const AppendMutation& append, const CommitLog& log)
      EXCLUDES(delete_mutex_, append_mutex_, state_mutex_);

  // Deletes the live rows carrying the ids (rows.rows: how many; 0 when no live row carries
  // them, which is no error and logs nothing). The delete is durable before its rows vanish
  // from scans and searches, and their graph edges go with them. Deletes of the dataset run
  // one at a time; appends wait for one only while its record is queued. KeyError (dataset
  // dropped), IOError (log: nothing is deleted).
  arrow::Result<Committed> Commit(const DeleteMutation& del, const CommitLog& log)
      EXCLUDES(delete_mutex_, append_mutex_, state_mutex_);

  // Adds graph edges, all or none, once durable: Invalid (bad columns or values, ids not
  // integers), KeyError (an id that is no live row's, or the dataset was dropped),
  // CapacityError (memory), IOError (log). Every endpoint is live when they are published: a
  // delete comes wholly before the check or wholly after the edges.
  arrow::Result<Committed> Commit(const EdgesMutation& edges, const CommitLog& log)
      EXCLUDES(delete_mutex_, append_mutex_, state_mutex_);

  // Appends a sealed segment built elsewhere (dataset_adopt.cc) with its graph, which is
  // adopted, not rebuilt: conforms its batches (ConformBatch; none may add columns), charges
  // their bytes and the index memory of their rows to the budget as an append does, queues one
  // record per batch in one group (an append, or an upsert deleting the batch's own rows that
  // are deleted at adoption: a replay appends and re-indexes the rows and deletes those in the
  // same step), and once durable publishes them in their turn in one step: the active segment
  // is sealed (or, holding no row, replaced by the adopted one), the adopted segment follows
  // with every row linked, and a new empty active segment starts after it; segment.deleted are
  // deleted in the same step. In a dataset whose ids are unique, so is every row of the segment
  // whose id has a live row here (that row is the newer: it came as a put since the segment's
  // copy was read), and the ids of the segment's live rows are mapped to them (their deleted
  // rows take no entry, IdRowMap::Assign); the segment's own live rows must not repeat an id.
  // Indexing of the dataset pauses from before the turn is taken until it is published. Errors
  // as an append's, nothing stored or charged; NotImplemented for a dataset whose ids are
  // server-assigned, or while a snapshot's rows are still being loaded; Invalid when the graph
  // does not fit the dataset's index (dimension, metric, element type, M, quantization) or its
  // rows are not the batches' rows.
  arrow::Result<Committed> Commit(const SegmentMutation& segment, const CommitLog& log)
      EXCLUDES(delete_mutex_, append_mutex_, state_mutex_);

  // Compacts the dataset (dataset_compaction.cc): its deleted rows leave its batches (small
  // ones coalesced), its graph (repaired, not rebuilt, from `threads` threads) and its text
  // index, and the rows that stay are renumbered, in its turn among the dataset's changes;
  // their row keys stay (the dropped rows' keys are gone). What is logged of it, and how a
  // restart finds it, is in store/dataset_compaction.h. Returns what was reclaimed (nothing
  // when no row is deleted). Puts, deletes, scans and searches go on meanwhile; indexing of the
  // dataset pauses. KeyError (dropped), IOError (the log: nothing changes), Cancelled
  // (`cancelled` returned true before it was published).
  // With `segment_fraction` > 0 only the segments whose deleted fraction reaches it are
  // compacted (every segment when none does); the others keep their graphs and batches, their
  // deleted rows stay deleted, and only their first rows move down.
  // A compaction that leaves at least `rekey_gone_keys` keys gone, and as many as the rows
  // left (or the next key past kRekeyKeys), also renumbers the keys densely: it logs a rekey
  // record and waits for it (dataset_compaction.h). 0: every compaction that leaves a key gone.
  // The text index and the id map renumber their own keys by the same threshold (without the
  // 0 exception: once their gone keys are as many as their rows).
  arrow::Result<CompactionReport> Compact(const CommitLog& log, int threads,
                                          const std::function<bool()>& cancelled,
                                          double segment_fraction = 0,
                                          uint64_t rekey_gone_keys = kRekeyGoneKeys)
      EXCLUDES(maintenance_mutex_, delete_mutex_, append_mutex_, state_mutex_);

  // Merges the dataset's small adjacent segments (store/segment_merge.h) from `threads`
  // threads, one pair at a time, until the merge policy finds none or `cancelled` returns true.
  // Nothing is logged. CapacityError when memory for a merged graph runs out.
  arrow::Result<SegmentMergeReport> MergeSegments(int threads,
                                                  const std::function<bool()>& cancelled)
      EXCLUDES(maintenance_mutex_, state_mutex_);

  // Logs the dataset's drop and, once durable, marks it dropped (MarkDropped): every change of
  // the dataset is logged before the drop or not at all. KeyError when it was dropped already;
  // a drop that could not be logged leaves the dataset as it was.
  arrow::Status Drop(const CommitLog& log) EXCLUDES(append_mutex_);

  // Drop for several datasets in one record (a namespace's drop): `encode` makes it from the
  // names of those not dropped yet, which are returned with its LSN. Every change of each of
  // them is logged before the record or not at all.
  struct DroppedTogether {
    std::vector<std::string> names;
    uint64_t lsn = 0;
  };
  static arrow::Result<DroppedTogether> DropTogether(
      const std::vector<std::shared_ptr<Dataset>>& datasets,
      const std::function<arrow::Result<WalPayload>(const std::vector<std::string>& names)>& encode,
      const CommitLog& log) NO_THREAD_SAFETY_ANALYSIS;  // locks a set of datasets' mutexes

  // Logs the creation of the dataset, not shared yet, without a batch (a schema-only put) and
  // waits until it is durable; sets created_lsn().
  arrow::Status LogCreation(const CommitLog& log);

  // Logs the dataset's row count (a kRowCount record) and waits until it is durable
  // (LogRowCounts in store/recovery.h).
  arrow::Status LogRowCount(const CommitLog& log) EXCLUDES(append_mutex_);

  // Commit of an append without a log, returning the rows appended (tests, tools).
  arrow::Result<int64_t> Append(const std::shared_ptr<arrow::RecordBatch>& batch);

  // Appends a batch read back from the write-ahead log (record `lsn`) or from a snapshot taken
  // at `lsn`: already conformed when it was logged. `replaced` (an upsert's, kUpsert) are
  // deleted with it; Invalid, naming the record, when one of them is not a row of the dataset
  // or the batch. `deleted`: rows of the batch that a snapshot holds deleted (DeleteRecovered
  // deletes them after): with unique ids, they take no entry in the id map, as neither do the
  // batch's own `replaced` rows (IdRowMap::Assign).
  arrow::Status AppendRecovered(const std::shared_ptr<arrow::RecordBatch>& batch, uint64_t lsn,
                                const Roaring& replaced = Roaring(),
                                const Roaring& deleted = Roaring());

  // The LSN of the WAL record that created the dataset (counts as logged, see NoteLogged). Set
  // once, before the dataset is shared.
  void set_created_lsn(uint64_t lsn);
  uint64_t created_lsn() const;

  // The dataset's latest snapshot on disk. Setting it also marks the dataset as holding every
  // change up to its LSN (a dataset loaded from that snapshot).
  void set_saved_snapshot(SavedSnapshot saved);
  SavedSnapshot saved_snapshot() const;

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

  // Points the vector column of indexed batches at their segment graph's copy of their
  // vectors, freeing the copy the batches were received with (store/vector_sharing.h), a chunk
  // of the graph (4096 rows) at a time: each full chunk indexed becomes one batch; the rows of
  // a chunk not full yet keep their received copy (a sealed segment's last chunk, which never
  // fills, is shared once all its rows are linked). Rows are shared in order, segment after
  // segment. Indexing of the dataset waits meanwhile; scans and
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

  // Applies a delete read back from the write-ahead log. Invalid, naming the record `lsn`,
  // when it names a row the dataset does not have.
  arrow::Status DeleteRecovered(const Roaring& rows, uint64_t lsn);

  // Serializes compactions and snapshots of the dataset: a snapshot's graph and rows must be
  // numbered alike, and a compaction renumbers both. The one mutex of the dataset taken from
  // outside: a snapshot (store/snapshot_io.cc) holds it while it saves the graph and copies the
  // rows. It orders no logged change (a snapshot logs nothing), so the write order stays
  // Commit's alone.
  Mutex& maintenance_mutex() RETURN_CAPABILITY(maintenance_mutex_) { return maintenance_mutex_; }

  // Applies a compaction read back from the write-ahead log (record `lsn`): the same
  // renumbering as when it was logged. Invalid, naming the record, when `dropped` names a row
  // that is not deleted at that point.
  arrow::Status CompactRecovered(const Roaring& dropped, uint64_t lsn);
  // Applies a rekey read back from the log (record `lsn`, kRekey): the rows still under one of
  // the `retired` keys are dropped (a compaction the live server made before it and did not
  // log), then the keys are renumbered as they were (RowKeys::Renumbered). Invalid, naming the
  // record, when such a row is not deleted or a retired key lies at or past the next key.
  arrow::Status RekeyRecovered(const Roaring& retired, uint64_t lsn);

  // Compactions applied to this dataset in this process.
  CompactionTotals compaction_totals() const;

  // For a dataset loaded from a snapshot, once its rows are in: its row keys as the snapshot
  // saved them (DatasetSnapshot::keys; a snapshot without them numbers key = row).
  void RestoreKeys(RowKeys keys) EXCLUDES(append_mutex_, state_mutex_);
  // Replay: the next `count` keys are gone, given to rows of records that are lost
  // (--wal-skip-corrupt), so that later records' keys mean the rows they named. Invalid past
  // 2^32 keys.
  arrow::Status SkipKeys(uint64_t count) EXCLUDES(append_mutex_, state_mutex_);
  // The row keys now (DatasetSnapshot::keys without copying the batch list).
  std::shared_ptr<const RowKeys> row_keys() const EXCLUDES(state_mutex_);
  // Keys are 32-bit (store/row_keys.h): the keys a dataset holds at once (its rows and the gone
  // keys not yet retired by a rekey, Compact) stay below this.
  static constexpr uint64_t kMaxRowKeys = uint64_t{1} << 32;
  // A compaction renumbers the keys (Compact) once this many are gone and as many as the rows
  // left (RowKeys::WorthRenumbering, the rule the text index and the id map follow too), or
  // whatever is gone once the next key passes kRekeyKeys, half the key space.
  static constexpr uint64_t kRekeyGoneKeys = RowKeys::kRenumberGoneKeys;
  static constexpr uint64_t kRekeyKeys = kMaxRowKeys / 2;
  // Whether a compaction that leaves `keys` for `rows` rows renumbers them (see Compact).
  static bool ShouldRekey(const RowKeys& keys, int64_t rows, uint64_t rekey_gone_keys);

  // Counts the changes of the segments' layout that are not logged: merges, and compactions
  // that are not logged (store/dataset_compaction.h). Never decreases; continued from the snapshot
  // the dataset was loaded from (its directory name carries it: persist/snapshot_format.h). This is
  // how the snapshot thread sees that the segments of a dataset changed since its snapshot.
  uint64_t layout_generation() const;

  // The rows published so far.
  DatasetSnapshot Snapshot() const;

  // For a dataset whose ids are unique: the rows its id map names for `ids` (an array of the
  // dataset's id type; each id's latest row, deleted or not: IdRowMap::Rows) with the snapshot
  // they are numbered in, taken together, in O(|ids|). Nullopt for a dataset without an id map.
  // Invalid for ids not int64, uint64 or utf8. store/id_lookup.h leaves the deleted rows out.
  struct MappedRows {
    DatasetSnapshot snapshot;
    Roaring rows;
  };
  arrow::Result<std::optional<MappedRows>> MappedRowsOf(const arrow::Array& ids) const
      EXCLUDES(id_map_mutex_, state_mutex_);

  // DatasetSnapshot::lsn of Snapshot(), without copying the batch list.
  uint64_t last_lsn() const;

  // The current schema.
  std::shared_ptr<arrow::Schema> schema() const;

  // Marks the dataset dropped: later prepares fail, its bytes go back to the budget and its
  // indexing stops. Called by Drop, DropTogether and the replay of a drop.
  void MarkDropped();
  bool dropped() const;

  // The dataset's knowledge-graph edges (graph/dataset_graph.h; store/dataset_edges.h).
  DatasetGraph& graph() const { return *graph_; }
  // Applies graph edges read back from the write-ahead log (record `lsn`, a canonical edge
  // batch; Invalid, naming the record, in any other layout), in their turn.
  arrow::Status EdgesRecovered(const arrow::RecordBatch& edges, uint64_t lsn);

 private:
  // Lets tests hold a private mutex as a change in flight would (tests/store only).
  friend class DatasetInternalsForTest;

  // A batch validated, conformed and charged to the budget, waiting to be published. It is
  // passed to exactly one of Publish or Discard.
  struct PreparedAppend {
    std::shared_ptr<arrow::RecordBatch> batch;  // as it will be stored and logged
    int64_t bytes = 0;                          // the batch's Arrow bytes, charged to the budget
    int64_t index_bytes = 0;  // the index memory its rows will need, charged ahead
    uint64_t ticket = 0;      // position in the dataset's publication order
    // The batch's text, tokenized ahead of publication by TokenizeText; unset: Publish
    // tokenizes it.
    std::optional<TextIndex::TokenizedRows> text;
    WalTicket record;  // the append's WAL record, once queued (LSN 0: not logged)
    // For a dataset whose ids are unique: the rows the batch replaces (ResolveReplaced),
    // deleted when it is published.
    Roaring replaced;
  };

  // A change other than an append queued to the log: its place in the publication order, to
  // pass to exactly one of Resolve (or PublishDeletes, PublishCompaction) or SkipTurn, and
  // its record.
  struct QueuedChange {
    uint64_t turn = 0;
    WalTicket ticket;
  };

  Dataset(std::string name, std::shared_ptr<arrow::Schema> put_schema,
          std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
          std::unique_ptr<DatasetIndex> index, std::shared_ptr<DatasetText> text,
          MemoryBudget* budget);

  // The steps of Commit (dataset_commit.cc).

  // CapacityError when `rows` more rows would take keys past kMaxRowKeys.
  arrow::Status CheckKeysLeft(int64_t rows) const REQUIRES(append_mutex_);

  // Queues the payload `encode` makes from logged_rows_ as the dataset's next change, under
  // append_mutex_ (so that it is logged before the dataset's drop or not at all, takes its
  // turn among the appends in log order, and logs the row count of that place), then waits,
  // without the mutex, until it is durable; the change adds `row_delta` rows and `key_delta`
  // to the next key (a rekey: minus the keys it retires). The caller
  // publishes it in the returned turn. A null `encode` (a change that logs nothing: a
  // compaction of a log of row keys) only takes the turn, its ticket's LSN 0. On failure
  // nothing is logged or the turn is given back: KeyError when the dataset was dropped, IOError
  // when the log could not be written.
  arrow::Result<QueuedChange> LogChange(
      const CommitLog& log, const std::function<arrow::Result<WalPayload>(int64_t)>& encode,
      int64_t row_delta, int64_t key_delta = 0) EXCLUDES(append_mutex_);
  // Commit of an append once the dataset's puts are in turn: for a dataset whose ids are
  // unique, the caller holds delete_mutex_ (the rows a put replaces are resolved and logged
  // with it, and every change logged before it is published).
  arrow::Result<Committed> CommitAppendInTurn(const AppendMutation& append, const CommitLog& log)
      EXCLUDES(append_mutex_);
  // Queues the prepared batch (and the dataset's creation with it when `log_creation`) to
  // `log`, the rows it replaces resolved first for unique ids. Sets prepared->record.
  arrow::Status QueueAppend(PreparedAppend* prepared, bool log_creation, const CommitLog& log)
      REQUIRES(append_mutex_);

  // Validates and conforms `batch` (ConformBatch) and charges its bytes, and the index memory
  // its rows will need (HnswIndex::MemoryModel, whole chunks), to the budget, and gives it its
  // place in the publication order: append_mutex_ is held until the batch is queued to the
  // log, so that log order and publication order agree. Errors: Invalid (bad batch, naming the
  // problem), CapacityError (memory limit), KeyError (the dataset was dropped).
  arrow::Result<PreparedAppend> Prepare(const std::shared_ptr<arrow::RecordBatch>& batch)
      REQUIRES(append_mutex_);

  // Tokenizes the prepared batch's text for the text index (nothing without text columns):
  // called while the batch is being logged, so that the tokenizing, the costly half of text
  // indexing, overlaps the wait for the log.
  void TokenizeText(PreparedAppend* prepared) const;

  // For a dataset whose ids are unique (DatasetLayout::unique_id): sets prepared->replaced to
  // the rows its batch replaces, numbered as its record logs them (the batch's first row being
  // logged_rows_): the live rows carrying its ids, found in the id map (O(batch)), and the
  // earlier rows of ids the batch repeats. delete_mutex_ is held from before Prepare until the
  // batch is published or discarded, so that every change logged before it is published (puts
  // into such a dataset run one at a time).
  arrow::Status ResolveReplaced(PreparedAppend* prepared) REQUIRES(delete_mutex_, append_mutex_);

  // Makes a prepared batch visible, after every batch prepared before it has been published or
  // discarded (waits for them), and adds its rows to the text index (consuming prepared.text):
  // when Publish returns, a search finds them. The rows in prepared.replaced are deleted in the
  // same step: no reader sees the batch without their deletion, or the other way round. For a
  // dataset whose ids are unique delete_mutex_ is held (see ResolveReplaced).
  void Publish(PreparedAppend& prepared);

  // Gives up a prepared batch: releases its bytes and its place in the order.
  void Discard(const PreparedAppend& prepared);

  // Waits, releasing append_mutex_, while a drop of the dataset is being logged (Drop): a
  // change is queued before the drop or, once the drop is durable, refused.
  void AwaitNoDrop() REQUIRES(append_mutex_) {
    while (dropping_) drop_resolved_.Wait(&append_mutex_);
  }
  // Ends a drop being logged: marks the dataset dropped when `logged`, and lets the changes
  // waiting for it go on.
  void ResolveDrop(bool logged) REQUIRES(append_mutex_);

  // Records that the dataset's change `lsn` was queued to the log.
  void NoteLogged(uint64_t lsn) REQUIRES(append_mutex_) {
    logged_lsn_.store(lsn, std::memory_order_relaxed);
  }
  // Takes back logged_rows_ += rows and next_key_ += keys for a change the log failed to write
  // (its WalWriter::Enqueue on_failure, on the log's thread).
  void RevertLoggedRows(int64_t rows, int64_t keys) EXCLUDES(append_mutex_);

  // A change's place in the publication order, which it shares with appends: taken under
  // append_mutex_ when queuing the change to the log, then passed to exactly one of Resolve
  // (PublishDeletes, PublishCompaction) or SkipTurn. So a snapshot never sees a change without
  // the ones logged before it, or the other way round.
  uint64_t TakeTurn() REQUIRES(append_mutex_) { return next_ticket_++; }

  // Marks `rows` (published rows, not deleted yet) deleted, in its turn (waiting for the
  // changes logged before it): scans and searches that start afterwards leave them out.
  // delete_mutex_ is held and the delete, WAL record `lsn`, is durable.
  void PublishDeletes(const Roaring& rows, uint64_t turn, uint64_t lsn) REQUIRES(delete_mutex_);

  // Gives up a turn whose change was not logged.
  void SkipTurn(uint64_t turn);

  // Builds the dataset without the rows deleted now (or without `dropped`, all deleted rows,
  // when replaying a compaction): compacted batches (small ones coalesced), a compacted graph
  // (HnswCompaction, from `threads` threads) and a rebuilt text index, none of them visible
  // yet. Indexing of the dataset pauses until the plan is published or destroyed; puts,
  // deletes and searches go on. A plan that drops no row needs no publishing. Cancelled once
  // `cancelled` returns true; Invalid when `dropped` names a row that is not deleted;
  // CapacityError when memory runs out. The text index and the id map drop their gone keys
  // (renumbered as rows) once RowKeys::WorthRenumbering with `renumber_gone_keys` says so.
  arrow::Result<std::unique_ptr<CompactionPlan>> PlanCompaction(
      const std::optional<Roaring>& dropped, int threads, const std::function<bool()>& cancelled,
      uint64_t renumber_gone_keys = RowKeys::kRenumberGoneKeys) REQUIRES(maintenance_mutex_);

  // Applies a replayed compaction of `dropped` (deleted rows; may be none) in record `lsn`'s
  // turn; with `retired` (a rekey) its keys are renumbered without those afterwards.
  // CompactRecovered and RekeyRecovered.
  arrow::Status ApplyRecoveredCompaction(const Roaring& dropped,
                                         const std::optional<Roaring>& retired, uint64_t lsn)
      REQUIRES(maintenance_mutex_);

  // Makes `plan` the dataset, in `turn` (TakeTurn): rows published since it was planned are
  // appended to it and rows deleted since stay deleted, renumbered; scans and searches that
  // start afterwards see the compacted rows, the ones in progress keep theirs. delete_mutex_ is
  // held (so no delete resolves rows in the old numbering meanwhile) and the compaction, WAL
  // record `lsn` listing plan.dropped(), is durable. Puts wait for it only while the rows
  // published since the plan are added to it.
  CompactionReport PublishCompaction(CompactionPlan& plan, uint64_t turn, uint64_t lsn)
      REQUIRES(delete_mutex_);

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
  // After a batch was published at `first_row` (unset: not published) with the `replaced` rows,
  // and its rows added to `text`: takes those out of `text`.
  static void RemoveReplacedText(DatasetText* text, const Roaring& replaced,
                                 std::optional<int64_t> first_row);
  // PublishBatch, and for a dataset whose ids are unique the batch's ids mapped to its rows
  // (IdRowMap::Assign; the rows in `replaced` or `deleted`, deleted as they come, take no entry)
  // in one step for readers of the id map (MappedRowsOf). The caller holds delete_mutex_ for a
  // dataset whose ids are unique.
  std::optional<int64_t> PublishMapped(uint64_t ticket,
                                       const std::shared_ptr<arrow::RecordBatch>& batch,
                                       int64_t bytes, uint64_t lsn,
                                       std::shared_ptr<DatasetText>* text, const Roaring& replaced,
                                       const Roaring& deleted = Roaring()) EXCLUDES(id_map_mutex_);
  // Charges the id map's memory (`bytes`: IdRowMap::bytes as it is now), with the index memory.
  void ChargeIdMap(int64_t bytes) EXCLUDES(state_mutex_);
  DatasetSnapshot SnapshotLocked() const REQUIRES_SHARED(state_mutex_);
  // Segment s's deleted set (the empty set for a segment without one yet).
  const std::shared_ptr<const TombstoneSet>& DeletedSetLocked(size_t s) const
      REQUIRES_SHARED(state_mutex_);
  // Adds the dataset rows `rows` to their segments' deleted sets (WithDeletedRows).
  void AddDeletedLocked(const Roaring& rows) REQUIRES(state_mutex_);
  // Before a batch is published: seals the active segment when its vectors reached the
  // segment size (and it holds every row its graph was loaded with), starting a new one for
  // the batch.
  void SealIfFullLocked() REQUIRES(state_mutex_);
  // ShareIndexedVectors for the rows of one segment: the next ones not shared yet. Returns
  // whether it shared any and the segment's rows are all shared (the next segment's turn).
  arrow::Result<bool> ShareSegmentVectors();
  // The index memory charged ahead for `rows` rows: whole chunks of the graph's arenas for the
  // rows beyond those mapped from a snapshot (HnswIndex::MemoryModel).
  int64_t IndexReservation(int64_t rows) const;
  // Notices a graph that fell back to float16 copies since the last charge (HnswIndex's int8
  // fallback, which happens in the middle of an indexing turn): the rows charged so far are
  // charged up to fallback_model_ now, and every put from here on at its rate.
  void NoteInt8FallbackLocked() REQUIRES(state_mutex_);
  // index_model_, or fallback_model_ once a graph fell back to float16 copies.
  const HnswIndex::MemoryModel& IndexModel() const {
    return int8_fell_back_.load(std::memory_order_acquire) ? fallback_model_ : index_model_;
  }
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
  // Swaps `merged`, the graph of the rows of the adjacent segments `left` and `right` of a
  // view, in for theirs (segment_merge.cc). False when they are no longer adjacent segments
  // (a compaction replaced one) or the dataset was dropped: nothing changed.
  bool PublishMerge(const SegmentView& left, const SegmentView& right,
                    std::shared_ptr<HnswIndex> merged) EXCLUDES(maintenance_mutex_, state_mutex_);

  // Checks that `graph` can be adopted as a segment of `rows` rows of this dataset.
  arrow::Status CheckAdoptable(const HnswIndex& graph, int64_t rows) const;
  // For rows published in their turn: true when the dataset was dropped meanwhile (logged
  // before the drop, published after it: never visible), their `bytes` given back.
  bool ReleaseIfDroppedLocked(int64_t bytes) REQUIRES(state_mutex_);
  // Releases the charges of a segment's conformed `batches` (`bytes` and `index_bytes`).
  void ReleaseSegmentCharges(int64_t rows, int64_t bytes, int64_t index_bytes);
  // For a dataset whose ids are unique: adds to `rows` (rows of `batches`, numbered across
  // them from 0: a segment to adopt, a put that keeps held ids) every row whose id has a live
  // row here.
  arrow::Status FindRowsOfHeldIds(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                                  Roaring* rows) const REQUIRES(delete_mutex_)
      EXCLUDES(id_map_mutex_, state_mutex_);

  // The rows of `view` past those `plan` holds, added to it.
  void ExtendPlan(CompactionPlan& plan, const DatasetSnapshot& view);

  const std::string name_;
  const std::shared_ptr<arrow::Schema> put_schema_;
  const DatasetLayout layout_;
  const int vector_column_;
  const std::unique_ptr<DatasetIndex> index_;
  const HnswIndex::MemoryModel index_model_;  // what the graph allocates for a number of rows
  // What it allocates once int8 build codes gave way to float16 copies (HnswIndex's int8
  // fallback): 1 byte more per dimension a row. Used from the first ChargeIndexMemory that finds
  // a graph fallen back on (IndexModel()): new segments' graphs start on int8 codes again, but
  // rows that made one graph fall back make the next fall back too, so the larger figure stays.
  const HnswIndex::MemoryModel fallback_model_;
  std::atomic<bool> int8_fell_back_{false};
  const int64_t segment_max_bytes_;  // vectors of a segment before it is sealed
  const int64_t vector_row_bytes_;   // bytes of one row's vector as received
  MemoryBudget* const budget_;

  // The commit mutexes, private: only Commit, Compact, Drop and the replay functions take them.
  // append_mutex_ serializes Prepare (it needs the current schema and the next assigned id)
  // and the queuing of every change to the log: log order = publication order (next_ticket_).
  // delete_mutex_ is held by a delete, an edge append, a compaction and a put into a dataset
  // of unique ids from resolving rows until they are published, and maintenance_mutex_ by a
  // compaction or a snapshot from start to end.
  // Lock order: maintenance_mutex_, then delete_mutex_, then append_mutex_, then id_map_mutex_,
  // then state_mutex_.
  Mutex append_mutex_ ACQUIRED_AFTER(delete_mutex_);
  Mutex delete_mutex_ ACQUIRED_AFTER(maintenance_mutex_);
  Mutex maintenance_mutex_;
  uint64_t next_assigned_id_ GUARDED_BY(append_mutex_) = 0;
  uint64_t next_ticket_ GUARDED_BY(append_mutex_) = 0;
  int64_t logged_rows_ GUARDED_BY(append_mutex_) = 0;
  // The key of the next row queued to the log (DatasetSnapshot::next_key once every queued
  // change is published).
  uint64_t next_key_ GUARDED_BY(append_mutex_) = 0;
  // For a dataset whose ids are unique: each id's latest row, in the published numbering (puts
  // into such a dataset hold delete_mutex_ until they publish, so it is the logged one too).
  // Changed only under delete_mutex_ and id_map_mutex_ held exclusively, together with the
  // published rows (PublishMapped, PublishCompaction): a reader of the map holding
  // id_map_mutex_ shared takes a snapshot numbered as the map (MappedRowsOf). A writer waits for
  // its turn holding id_map_mutex_; the changes it waits for never take it (every writer of the
  // map holds delete_mutex_, so there is one at a time).
  mutable SharedMutex id_map_mutex_ ACQUIRED_AFTER(append_mutex_);
  IdRowMap id_rows_ GUARDED_BY(id_map_mutex_);
  std::atomic<uint64_t> logged_lsn_{0};  // written under append_mutex_
  // While a drop's record is being written, without append_mutex_ (the log's take-backs of
  // the dataset's failed records need it: WalWriter::Enqueue): no other change is queued.
  bool dropping_ GUARDED_BY(append_mutex_) = false;
  CondVar drop_resolved_;  // signalled when dropping_ is cleared

  // Guards the published state below; held only to publish or copy it.
  mutable SharedMutex state_mutex_ ACQUIRED_AFTER(id_map_mutex_);
  SharedCondVar turn_;  // signalled when next_to_publish_ advances
  uint64_t next_to_publish_ GUARDED_BY(state_mutex_) = 0;
  std::shared_ptr<arrow::Schema> schema_ GUARDED_BY(state_mutex_);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_ GUARDED_BY(state_mutex_);
  // Each segment's first row (store/segment.h), in order; index_'s graphs are theirs.
  std::vector<int64_t> segment_firsts_ GUARDED_BY(state_mutex_) = {0};
  // Rows of the snapshot being loaded (RestoreSegments): no segment seals before they are in.
  int64_t restored_segment_rows_ GUARDED_BY(state_mutex_) = 0;
  // Each segment's deleted local rows, in the order of segment_firsts_ (one set per segment;
  // DeletedSetLocked reads it).
  std::vector<std::shared_ptr<const TombstoneSet>> segment_deleted_ GUARDED_BY(state_mutex_) = {
      TombstoneSet::Empty()};
  uint64_t layout_generation_ GUARDED_BY(state_mutex_) = 0;  // see layout_generation()
  // Null without text columns; replaced by compactions.
  std::shared_ptr<DatasetText> text_ GUARDED_BY(state_mutex_);
  // The row keys (DatasetSnapshot::keys), never null; a compaction makes new ones.
  std::shared_ptr<const RowKeys> keys_ GUARDED_BY(state_mutex_) = std::make_shared<const RowKeys>();
  CompactionTotals compaction_totals_ GUARDED_BY(state_mutex_);
  int64_t num_rows_ GUARDED_BY(state_mutex_) = 0;
  int64_t num_bytes_ GUARDED_BY(state_mutex_) = 0;
  // Rows published or prepared: the rows whose index memory is charged ahead.
  int64_t charged_rows_ GUARDED_BY(state_mutex_) = 0;
  uint64_t published_lsn_ GUARDED_BY(state_mutex_) = 0;  // see DatasetSnapshot::lsn
  uint64_t created_lsn_ GUARDED_BY(state_mutex_) = 0;
  SavedSnapshot saved_ GUARDED_BY(state_mutex_);
  bool dropped_ GUARDED_BY(state_mutex_) = false;
  // Rows [0, shared_rows_) share their vectors with the graphs (ShareIndexedVectors), lending
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
