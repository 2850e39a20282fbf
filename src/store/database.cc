#include "store/database.h"

namespace arbalest {

arrow::Result<std::unique_ptr<Database>> Database::Open(DatabaseOptions options,
                                                        std::shared_ptr<VectorStore> store) {
  ARROW_ASSIGN_OR_RAISE(RecoveryResult recovered, Recover(*store, options.recovery));
  options.wal.dir = options.recovery.wal_dir;
  ARROW_ASSIGN_OR_RAISE(auto writer, WalWriter::Open(std::move(options.wal), recovered.next_lsn));
  store->AttachWal(std::move(writer));
  ARROW_RETURN_NOT_OK(LogRowCounts(*store, recovered));
  store->StartIndexing(options.index_workers, options.share_vectors);
  store->StartCompaction(options.compaction);
  options.snapshots.dir = options.recovery.snapshot_dir;
  ARROW_RETURN_NOT_OK(store->StartSnapshots(std::move(options.snapshots)));
  return std::unique_ptr<Database>(new Database(std::move(store), std::move(recovered)));
}

void Database::Close(std::chrono::steady_clock::time_point deadline) {
  store_->StopCompaction();  // one not logged yet is abandoned; the next start redoes it
  store_->StopIndexing();    // the snapshot saves the graph as it is, without waiting for it
  // Snapshots and checkpoints what changed, so that the next start loads snapshots instead of
  // replaying the log.
  store_->snapshotter()->Shutdown(deadline);
}

}  // namespace arbalest
