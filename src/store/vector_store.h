// The process's datasets by name, the memory budget they share and, once attached, the
// write-ahead log every change goes through. Flight handlers and WAL replay reach data only
// through this object.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "persist/wal_format.h"
#include "persist/wal_writer.h"
#include "store/compactor.h"
#include "store/dataset.h"
#include "store/index_workers.h"
#include "store/memory_budget.h"
#include "store/namespaces.h"
#include "store/snapshotter.h"

namespace arbalest {

// What a successful append tells the client (the PutResult of protocol.md).
struct PutAck {
  int64_t rows = 0;
  uint64_t seq = 0;        // the WAL LSN of the append (strictly increasing)
  bool slow_down = false;  // memory past the soft limit
};

// Totals since the process started, for metrics: read at scrape time, so the write path pays a
// few relaxed atomic adds per batch.
struct IngestCounters {
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> rows{0};
  std::atomic<int64_t> bytes{0};       // Arrow bytes stored
  std::atomic<int64_t> rejected{0};    // batches refused by the memory limit
  std::atomic<int64_t> slow_downs{0};  // acks that carried slow_down
};

// Compactions since the process started (not those replayed at startup), for metrics.
struct CompactionCounters {
  std::atomic<int64_t> compactions{0};
  std::atomic<int64_t> reclaimed_rows{0};
};

// Thread-safe.
class VectorStore {
 public:
  // `max_memory_bytes` 0 means unlimited; so does `max_dimension` 0 (the widest vectors a new
  // dataset may have: --max-dimension).
  explicit VectorStore(int64_t max_memory_bytes, int max_dimension = 0)
      : budget_(max_memory_bytes), max_dimension_(max_dimension) {}

  // From now on every change is logged to `wal` and acknowledged only once durable. Call before
  // serving, after replaying the log with ApplyLogged.
  void AttachWal(std::unique_ptr<WalWriter> wal) {
    wal_ = std::move(wal);
    published_wal_.store(wal_.get(), std::memory_order_release);
  }
  // Tests of the upgrade path only: from now on records name rows by number (version 1:
  // CommitLog::row_numbers), as builds before row keys logged them. Call before serving.
  void LogRowNumbersForTest() { log_row_numbers_ = true; }

  // Starts `threads` index workers and queues every dataset for indexing; from now on each
  // published batch queues its dataset. Call once, after replay. Without it nothing is
  // indexed and searches scan exactly.
  void StartIndexing(int threads, bool share_vectors = true);

  // Stops the index workers (before the store goes away). A reader of index_queue_depth() in
  // another thread keeps them alive until it is done.
  void StopIndexing() { index_workers_.store(nullptr); }

  // Datasets waiting for or being indexed.
  size_t index_queue_depth() const;

  // From now on compactions use `options.threads`, and, unless options.deleted_fraction is 0,
  // a background thread compacts each dataset whose deleted rows pass the thresholds of
  // `options` (checked after every delete, and now for every dataset). Call once, after
  // replay.
  void StartCompaction(const CompactionOptions& options);

  // Also, with options.merge_segments, starts the merge thread: after each indexing turn of a
  // dataset of several segments, and after its compactions, it merges the dataset's small
  // adjacent segments (Dataset::MergeSegments, store/segment_merge.h).

  // Stops the compaction and merge threads, abandoning a compaction that is not logged yet
  // and a merge not swapped in yet.
  void StopCompaction() {
    compactor_.reset();
    merger_.store(nullptr);
  }

  // Starts the snapshot thread (store/snapshotter.h). Call once, after AttachWal (Invalid
  // without a log: a snapshot is a point in the log).
  arrow::Status StartSnapshots(SnapshotOptions options);

  // The snapshot thread; null before StartSnapshots. Safe to call from any thread (the metrics
  // port reads it while the store is still starting); it lives as long as the store.
  Snapshotter* snapshotter() { return published_snapshotter_.load(std::memory_order_acquire); }

  // The dataset named `name`, created from `put_schema` when absent (a schema-only put); an
  // existing dataset must accept `put_schema`. Invalid for a bad name or schema.
  arrow::Result<std::shared_ptr<Dataset>> GetOrCreate(std::string_view name,
                                                      const arrow::Schema& put_schema);

  // The dataset named `name`; KeyError ("dataset 'x' not found") when absent.
  arrow::Result<std::shared_ptr<Dataset>> Get(std::string_view name) const;

  // Removes the dataset; its memory is released once the last reader lets go. KeyError when
  // absent. The drop is logged without holding the map of datasets.
  arrow::Status Drop(std::string_view name) EXCLUDES(mutex_);

  // All datasets, sorted by name. `with_creations` adds the datasets whose creation is being
  // logged (not yet visible to clients): a checkpoint must keep their records.
  std::vector<std::shared_ptr<Dataset>> List(bool with_creations = false) const;

  // Appends `batch` to the dataset `name`, creating it from the batch's schema when absent. A
  // dataset is created only together with a valid first batch, so a rejected put leaves
  // nothing behind. `dataset` receives the dataset, for the stream's later appends. A new
  // dataset takes its options from the schema metadata (schema_options.h; Invalid for an
  // unknown `longbow.`/`arbalest.` key); a put into an existing one whose metadata asks for
  // other options is refused (CheckOptionsAgree).
  // `held_ids`: how a dataset whose ids are unique takes rows of ids it holds (HeldIds; the
  // ack counts the rows appended).
  arrow::Result<PutAck> Put(std::string_view name, const std::shared_ptr<arrow::RecordBatch>& batch,
                            std::shared_ptr<Dataset>* dataset,
                            HeldIds held_ids = HeldIds::kReplace);

  // Validates `batch`, logs it, and publishes it to `dataset` once durable. On any error
  // nothing is stored: Invalid (bad batch), CapacityError (memory), IOError (the log could not
  // be written), KeyError (dataset dropped).
  arrow::Result<PutAck> Append(Dataset& dataset, const std::shared_ptr<arrow::RecordBatch>& batch,
                               HeldIds held_ids = HeldIds::kReplace);

  // Append, after checking that the batch's schema metadata asks for no other options than
  // the dataset's (CheckOptionsAgree): the first put of a stream into an existing dataset.
  arrow::Result<PutAck> AppendChecked(Dataset& dataset,
                                      const std::shared_ptr<arrow::RecordBatch>& batch,
                                      HeldIds held_ids = HeldIds::kReplace);

  // Appends a sealed segment built on another node to `dataset` with its graph, adopted rather
  // than rebuilt (Dataset::Commit of a SegmentMutation: its errors); returns the rows appended.
  arrow::Result<int64_t> AdoptSegment(Dataset& dataset, const SegmentMutation& segment);

  // Deletes every live row of `dataset` whose id is in `ids` (an array of the dataset's id
  // type: IdsToArray) and returns how many rows that was; ids that no live row carries count
  // 0 and are not an error. The rows are logged and durable before they vanish from scans and
  // searches and before this returns. Deletes of one dataset run one at a time; appends are
  // held up only while the record is queued to the log. Errors: KeyError (dataset dropped),
  // IOError (the log could not be written: nothing is deleted).
  arrow::Result<int64_t> Delete(Dataset& dataset, const arrow::Array& ids);

  // Compacts `dataset` now: its deleted rows leave its batches (small batches are coalesced),
  // its graph (repaired, not rebuilt) and its text index, and the rows that stay are
  // renumbered. The compaction is logged, so a restart renumbers alike. Returns what was
  // reclaimed (nothing when no row is deleted). Puts, deletes, scans and searches go on
  // meanwhile; indexing of the dataset pauses. Errors: KeyError (dataset dropped), IOError (the
  // log could not be written: nothing changes), Cancelled (`cancelled` returned true first).
  // The compaction thread passes its --compact-deleted-fraction as `segment_fraction`: only
  // the segments past it are compacted (Dataset::Compact); 0 (the `compact` action): all.
  arrow::Result<CompactionReport> Compact(
      Dataset& dataset, const std::function<bool()>& cancelled = [] { return false; },
      double segment_fraction = 0);

  // Applies a record read back from the log at startup (no logging). Row numbers are taken as
  // they are (recovery checks them first: store/replay_numbering.h).
  arrow::Status ApplyLogged(const WalEntry& entry);

  // Logs the dataset's row count (a kRowCount record) and waits until it is durable: after a
  // start that lost some of its records, so that a later replay knows the records after it
  // number rows as this process does (see LogRowCounts in store/recovery.h).
  arrow::Status LogRowCount(Dataset& dataset);

  // Adds a dataset loaded from a snapshot at startup, before the log is replayed. Invalid when
  // a dataset of that name exists.
  arrow::Status AddRestored(std::shared_ptr<Dataset> dataset);

  // Namespaces (store/namespaces.h; defined in vector_store_namespaces.cc). Creating one
  // logs it and waits until durable: Invalid for a bad name or one that exists
  // (the default namespace always does). Dropping one drops its datasets with it in one WAL
  // record and returns their names: Invalid for the default namespace, KeyError when absent.
  arrow::Status CreateNamespace(std::string_view name);
  arrow::Result<std::vector<std::string>> DropNamespace(std::string_view name);
  // The datasets of namespace `name` (KeyError when absent).
  arrow::Result<int64_t> NamespaceDatasetCount(std::string_view name);
  Namespaces& namespaces() { return namespaces_; }

  // Graph edges (graph/dataset_graph.h; Dataset::Commit of an EdgesMutation). Adds a client's
  // edges (any batch ConformEdges accepts) to `dataset` once logged and durable, all or none,
  // and returns how many: Invalid (bad columns or values, ids not integers), KeyError (an id
  // that is no live row's, or the dataset was dropped), CapacityError (memory), IOError (log).
  arrow::Result<int64_t> AddEdges(Dataset& dataset, const arrow::RecordBatch& edges);

  ~VectorStore();

  const MemoryBudget& memory() const { return budget_; }
  MemoryBudget* mutable_memory() { return &budget_; }
  const IngestCounters& ingest_counters() const { return ingest_; }
  const CompactionCounters& compaction_counters() const { return compactions_; }
  // The log; null before AttachWal. Safe to call from any thread; it lives as long as the store.
  const WalWriter* wal() const { return published_wal_.load(std::memory_order_acquire); }

 private:
  // The log changes go to (none before AttachWal): what Dataset::Commit queues records to.
  CommitLog Log() const { return CommitLog(wal_.get(), log_row_numbers_); }
  // The ack of a committed append, counted in ingest_.
  PutAck Acknowledge(const Committed& committed);
  // Counts a put refused by the memory limit (ingest_.rejected); returns `status`.
  arrow::Status CountRefusal(arrow::Status status);

  // Applies a logged namespace record (replay).
  arrow::Status ApplyNamespaceLogged(const WalEntry& entry);

  // Queues `dataset` for the compaction thread if its deleted rows call for it.
  void MaybeCompact(const Dataset& dataset);
  // Queues `dataset` for the merge thread if it has several segments.
  void MaybeMerge(const Dataset& dataset);
  // The merge thread's work on one dataset.
  void MergeSegments(const std::string& name, const std::function<bool()>& cancelled);

  // The dataset named `name`, or null.
  std::shared_ptr<Dataset> Find(std::string_view name) const EXCLUDES(mutex_);
  // Creating a dataset logs its creation without holding the map of datasets, so that other
  // datasets go on meanwhile. ReserveName claims `name` for `created`, to be logged now, and
  // returns null; when a dataset of that name exists, or once another put's creation of it is
  // resolved, returns that dataset instead (and `created` is dropped by the caller).
  // FinishCreation publishes the reserved dataset if its creation was `logged`, and frees the
  // name either way.
  arrow::Result<std::shared_ptr<Dataset>> ReserveName(std::string_view name,
                                                      const std::shared_ptr<Dataset>& created)
      EXCLUDES(mutex_);
  void FinishCreation(std::string_view name, bool logged) EXCLUDES(mutex_);

  // A new dataset `name` of `put_schema`, its fixed memory charged: Invalid for vectors wider
  // than max_dimension_ (or a bad schema), CapacityError past --max-memory.
  arrow::Result<std::shared_ptr<Dataset>> CreateDataset(std::string_view name,
                                                        const arrow::Schema& put_schema);

  MemoryBudget budget_;
  const int max_dimension_;
  IngestCounters ingest_;
  CompactionCounters compactions_;
  CompactionOptions compaction_options_;  // set by StartCompaction, before serving
  // Set once before serving; the published_ pointers let the metrics port, which starts
  // before recovery, read them from its own threads.
  std::unique_ptr<WalWriter> wal_;
  bool log_row_numbers_ = false;  // LogRowNumbersForTest
  std::atomic<const WalWriter*> published_wal_{nullptr};
  // Replaced only by StartIndexing and StopIndexing; read from any thread.
  std::atomic<std::shared_ptr<IndexWorkers>> index_workers_;
  std::atomic<uint64_t> next_seq_{1};  // acks' seq when no log is attached
  // Guards the map of datasets by name; never held across I/O.
  mutable SharedMutex mutex_;
  std::map<std::string, std::shared_ptr<Dataset>, std::less<>> datasets_ GUARDED_BY(mutex_);
  // Datasets whose creation is being logged, by name (ReserveName).
  std::map<std::string, std::shared_ptr<Dataset>, std::less<>> creating_ GUARDED_BY(mutex_);
  SharedCondVar creation_done_;  // signalled when an entry of creating_ is resolved
  std::unique_ptr<Snapshotter> snapshotter_;
  std::atomic<Snapshotter*> published_snapshotter_{nullptr};
  std::unique_ptr<Compactor> compactor_;
  // The merge thread (a Compactor running MergeSegments); read by the index workers.
  std::atomic<std::shared_ptr<Compactor>> merger_;
  Namespaces namespaces_;
};

}  // namespace arbalest
