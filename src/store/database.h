// A data directory opened as LevelDB's DB::Open opens one: Database::Open recovers the store
// (snapshots, then the log), continues the log with a writer, logs the row counts a lossy
// replay needs, then starts the store's threads (index workers, compactor, snapshot thread);
// Close stops them in the order a shutdown needs. The server's setup (main.cc) and tests open
// a store through it instead of wiring those steps themselves.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>

#include "persist/wal_writer.h"
#include "store/compactor.h"
#include "store/recovery.h"
#include "store/snapshotter.h"
#include "store/vector_store.h"

namespace arbalest {

struct DatabaseOptions {
  // Where the log and the snapshots are (recovery.wal_dir is the log's directory: wal.dir is
  // set from it), and whether corrupt records are skipped (--wal-skip-corrupt).
  RecoveryOptions recovery;
  WalOptions wal;  // how the log is written from now on
  int index_workers = 1;
  bool share_vectors = true;  // false: --keep-vector-copies
  CompactionOptions compaction;
  SnapshotOptions snapshots;  // snapshots.dir is set from recovery.snapshot_dir
};

// Thread-safe as its store is.
class Database {
 public:
  // Opens `store` (empty, with no log attached; others may hold it already, e.g. the metrics
  // port, which reads it while it recovers) on the directories of `options`. Errors: those of
  // Recover (a damaged snapshot or log, named), of opening the log, of logging the row counts.
  static arrow::Result<std::unique_ptr<Database>> Open(DatabaseOptions options,
                                                       std::shared_ptr<VectorStore> store);

  // Stops the compaction thread (a compaction not logged yet is abandoned) and the index
  // workers (the graph is saved as it is), then snapshots what changed until `deadline` (what
  // does not finish is still in the log). Call once, after the servers stopped; the store
  // stays readable.
  void Close(std::chrono::steady_clock::time_point deadline);

  VectorStore& store() const { return *store_; }
  // What recovery found (for the startup log line).
  const RecoveryResult& recovered() const { return recovered_; }

 private:
  Database(std::shared_ptr<VectorStore> store, RecoveryResult recovered)
      : store_(std::move(store)), recovered_(std::move(recovered)) {}

  const std::shared_ptr<VectorStore> store_;
  const RecoveryResult recovered_;
};

}  // namespace arbalest
