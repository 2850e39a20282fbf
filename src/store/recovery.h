// Startup recovery: loads the datasets' snapshots, then replays the write-ahead log records
// that came after them.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <vector>

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
  // With skip_corrupt: rows of datasets that lost records (known from later records' row
  // counts), and the datasets whose rows replay numbers otherwise than their records did.
  int64_t lost_rows = 0;
  std::vector<std::string> renumbered;
};

// Rebuilds `store` (which must be empty, without a log attached yet):
//  1. Removes snapshot staging and trash directories left by a crash, and loads the newest
//     snapshot of each dataset. A damaged snapshot fails recovery, naming the file, unless
//     the log drops its dataset after it (then it is garbage and is removed): the log records
//     it replaced may be deleted already, so skipping it could lose acknowledged rows.
//  2. Replays the log one record in memory at a time (ReadWal: it fails when records are
//     missing), skipping each dataset's records up to its snapshot's LSN. Records of a dataset
//     that has neither its creation in the log nor a snapshot are skipped when the log drops
//     the dataset after them (it was dropped, and its snapshot removed, before the segments
//     with its records were); otherwise its earlier records are lost, and recovery fails
//     naming the dataset and the LSNs. Each record's row count is checked against replay's
//     (store/replay_numbering.h); a log that lost records of a dataset fails, naming them.
//  3. Checks that no snapshot holds changes past the end of the log (its tail would be lost).
// Fails, naming the record, when a record does not decode or does not apply, unless
// options.wal.skip_corrupt: then what is lost is logged, the rest replayed, and later
// records of a dataset that lost rows still hit exactly the rows they named.
arrow::Result<RecoveryResult> Recover(VectorStore& store, const RecoveryOptions& options);

// After a recovery whose result names renumbered datasets, logs each one's row count
// (VectorStore::LogRowCount): records logged from now on number the rows as replay did, and a
// later replay, which loses the same records again, learns so there. Call once the log is
// attached, before serving.
arrow::Status LogRowCounts(VectorStore& store, const RecoveryResult& recovered);

}  // namespace arbalest
