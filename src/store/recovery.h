// Startup recovery: rebuilds the store from the write-ahead log.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>

#include "persist/wal_reader.h"
#include "store/vector_store.h"

namespace arbalest {

struct RecoveryResult {
  WalReadResult log;         // records read, last LSN, torn bytes cut, corrupt records skipped
  int64_t rows = 0;          // rows appended by replay
  int64_t deleted_rows = 0;  // rows deleted by replay
  uint64_t next_lsn = 1;     // where the log continues
};

// Replays the log in `wal_dir` into `store` (which must not have a log attached yet), one
// record in memory at a time. Fails, naming the record, when a record does not decode or does
// not apply, unless options.skip_corrupt (then it is skipped with an error logged).
arrow::Result<RecoveryResult> RecoverFromWal(VectorStore& store, const std::string& wal_dir,
                                             const WalReadOptions& options);

}  // namespace arbalest
