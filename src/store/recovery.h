// Startup recovery: loads the datasets' snapshots, then replays the write-ahead log records
// that came after them.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>

#include "persist/wal_reader.h"
#include "store/vector_store.h"

namespace arbalest {

struct RecoveryOptions {
  std::string wal_dir;
  std::string snapshot_dir;  // empty: the log alone
  WalReadOptions wal;
};

struct RecoveryResult {
  WalReadResult log;          // records read, last LSN, torn bytes cut, corrupt records skipped
  int64_t snapshots = 0;      // datasets loaded from snapshots
  int64_t snapshot_rows = 0;  // rows loaded from snapshots
  int64_t restored_index_rows = 0;  // rows whose graph was mapped from snapshots
  int64_t rows = 0;                 // rows appended by replay
  int64_t deleted_rows = 0;         // rows deleted by replay
  uint64_t skipped_records = 0;     // records already in a snapshot or of datasets deleted earlier
  uint64_t next_lsn = 1;            // where the log continues
};

// Rebuilds `store` (which must be empty, without a log attached yet):
//  1. Removes snapshot staging and trash directories left by a crash, and loads the newest
//     snapshot of each dataset. A damaged snapshot fails recovery, naming the file, unless
//     the log drops its dataset after it (then it is garbage and is removed): the log records
//     it replaced may be deleted already, so skipping it could lose acknowledged rows.
//  2. Replays the log one record in memory at a time, skipping each dataset's records up to its
//     snapshot's LSN. Once the log has been checkpointed (its first segment does not start at
//     LSN 1), records of a dataset whose creation is no longer in the log are skipped: that
//     dataset was deleted, and its snapshot removed, before its records could be.
// Fails, naming the record, when a record does not decode or does not apply, unless
// options.wal.skip_corrupt (then it is skipped with an error logged).
arrow::Result<RecoveryResult> Recover(VectorStore& store, const RecoveryOptions& options);

}  // namespace arbalest
