#include "store/recovery.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "persist/snapshot_format.h"
#include "persist/staging_dir.h"
#include "persist/wal_format.h"
#include "persist/wal_segments.h"
#include "store/snapshot_io.h"

namespace arbalest {
namespace {

// Loads the newest snapshot of every dataset in `dir`; returns each dataset's snapshot LSN.
arrow::Result<std::map<std::string, uint64_t>> LoadSnapshots(VectorStore& store,
                                                             const std::string& dir,
                                                             RecoveryResult* result) {
  std::map<std::string, uint64_t> loaded;
  ARROW_ASSIGN_OR_RAISE(SnapshotListing listing, ListSnapshotDirs(dir));
  for (const auto& staging : listing.staging) {
    spdlog::warn("recovery: removing {}, a snapshot that was not finished", staging);
    ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(staging));
  }
  const auto& snapshots = listing.complete;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const bool newest =
        i + 1 == snapshots.size() || snapshots[i + 1].dataset != snapshots[i].dataset;
    if (!newest) continue;
    auto dataset = LoadSnapshot(snapshots[i], store.mutable_memory());
    if (!dataset.ok()) {
      return dataset.status().WithMessage(
          "recovery failed: ", dataset.status().message(),
          ". Restore the snapshot from a backup; moving it away is safe only while the WAL still "
          "holds the dataset's whole history");
    }
    result->snapshots += 1;
    result->snapshot_rows += (*dataset)->Snapshot().num_rows;
    result->restored_index_rows += (*dataset)->index().restored_rows();
    loaded[snapshots[i].dataset] = snapshots[i].lsn;
    ARROW_RETURN_NOT_OK(store.AddRestored(std::move(*dataset)));
  }
  // Older snapshots of a dataset (a crash came between writing the new one and removing them).
  for (size_t i = 0; i + 1 < snapshots.size(); ++i) {
    if (snapshots[i + 1].dataset == snapshots[i].dataset) {
      ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(snapshots[i].path));
    }
  }
  return loaded;
}

}  // namespace

arrow::Result<RecoveryResult> Recover(VectorStore& store, const RecoveryOptions& options) {
  RecoveryResult result;
  std::map<std::string, uint64_t> snapshot_lsn;
  if (!options.snapshot_dir.empty()) {
    ARROW_ASSIGN_OR_RAISE(snapshot_lsn, LoadSnapshots(store, options.snapshot_dir, &result));
  }
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(options.wal_dir));
  const bool checkpointed = !segments.empty() && segments.front().first_lsn > 1;
  uint64_t skipped_corrupt = 0;
  auto apply = [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) -> arrow::Status {
    auto entry = DecodePayload(lsn, std::move(payload));
    arrow::Status status = entry.status();
    if (entry.ok()) {
      auto covered = snapshot_lsn.find(entry->dataset);
      const bool in_snapshot = covered != snapshot_lsn.end() && lsn <= covered->second;
      const bool of_deleted = checkpointed && entry->type != WalRecordType::kCreateDataset &&
                              !store.Get(entry->dataset).ok();
      if (in_snapshot || of_deleted) {
        ++result.skipped_records;
        return arrow::Status::OK();
      }
      status = store.ApplyLogged(*entry);
    }
    if (!status.ok()) {
      if (!options.wal.skip_corrupt) {
        return status.WithMessage("recovery from ", options.wal_dir, " failed: ", status.message(),
                                  " (start with --wal-skip-corrupt to skip it)");
      }
      spdlog::error("recovery: skipping WAL record {}: {}", lsn, status.message());
      ++skipped_corrupt;
      return arrow::Status::OK();
    }
    if (entry->type == WalRecordType::kAppend) result.rows += entry->batch->num_rows();
    if (entry->type == WalRecordType::kDelete) {
      result.deleted_rows += static_cast<int64_t>(entry->rows.cardinality());
    }
    return arrow::Status::OK();
  };
  ARROW_ASSIGN_OR_RAISE(result.log, ReadWal(options.wal_dir, options.wal, apply));
  result.log.skipped_corrupt += skipped_corrupt;
  // The log may end before a snapshot's LSN (its segments were checkpointed away) or be an
  // empty segment: LSNs must still never be reused.
  uint64_t last_lsn = result.log.last_lsn;
  for (const auto& [name, lsn] : snapshot_lsn) last_lsn = std::max(last_lsn, lsn);
  if (!segments.empty()) last_lsn = std::max(last_lsn, segments.back().first_lsn - 1);
  result.next_lsn = last_lsn + 1;
  return result;
}

}  // namespace arbalest
