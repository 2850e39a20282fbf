#include "store/recovery.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include "persist/wal_format.h"

namespace arbalest {

arrow::Result<RecoveryResult> RecoverFromWal(VectorStore& store, const std::string& wal_dir,
                                             const WalReadOptions& options) {
  RecoveryResult result;
  uint64_t skipped_records = 0;
  auto apply = [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) -> arrow::Status {
    auto entry = DecodePayload(lsn, std::move(payload));
    arrow::Status status = entry.ok() ? store.ApplyLogged(*entry) : entry.status();
    if (!status.ok()) {
      if (!options.skip_corrupt) {
        return status.WithMessage("recovery from ", wal_dir, " failed: ", status.message(),
                                  " (start with --wal-skip-corrupt to skip it)");
      }
      spdlog::error("recovery: skipping WAL record {}: {}", lsn, status.message());
      ++skipped_records;
      return arrow::Status::OK();
    }
    if (entry->type == WalRecordType::kAppend) result.rows += entry->batch->num_rows();
    if (entry->type == WalRecordType::kDelete) {
      result.deleted_rows += static_cast<int64_t>(entry->rows.cardinality());
    }
    return arrow::Status::OK();
  };
  ARROW_ASSIGN_OR_RAISE(result.log, ReadWal(wal_dir, options, apply));
  result.log.skipped_corrupt += skipped_records;
  result.next_lsn = result.log.last_lsn + 1;
  return result;
}

}  // namespace arbalest
