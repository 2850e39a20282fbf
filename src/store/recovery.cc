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

// A dataset's newest snapshot that failed to load. It is needed only if the dataset is still
// live: when the log drops the dataset after the snapshot's LSN (a crash interrupted the
// removal of a dropped dataset's snapshot, by an older build that deleted it file by file),
// the snapshot is garbage and is removed once replay reaches the drop.
struct DamagedSnapshot {
  SnapshotDirEntry dir;
  arrow::Status why;
};

// The error for a damaged snapshot that the dataset still needs.
arrow::Status SnapshotNeeded(const DamagedSnapshot& damaged, std::string_view because) {
  return damaged.why.WithMessage(
      "recovery failed: ", damaged.why.message(), ". Dataset '", damaged.dir.dataset,
      "' is still live (", because, "), so its snapshot is needed: restore the directory ",
      damaged.dir.path,
      " from a backup; moving it away is safe only while the WAL still holds the dataset's "
      "whole history");
}

struct LoadedSnapshots {
  std::map<std::string, uint64_t> lsn;             // dataset -> LSN of its loaded snapshot
  std::map<std::string, DamagedSnapshot> damaged;  // dataset -> its snapshot that failed
};

// Loads the newest snapshot of every dataset in `dir`.
arrow::Result<LoadedSnapshots> LoadSnapshots(VectorStore& store, const std::string& dir,
                                             RecoveryResult* result) {
  LoadedSnapshots loaded;
  ARROW_ASSIGN_OR_RAISE(SnapshotListing listing, ListSnapshotDirs(dir));
  for (const auto& staging : listing.staging) {
    spdlog::warn("recovery: removing {}, a snapshot that was not finished", staging);
    ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(staging));
  }
  for (const auto& trash : listing.trash) {
    spdlog::info("recovery: finishing the removal of {}", trash);
    ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(trash));
  }
  const auto& snapshots = listing.complete;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const bool newest =
        i + 1 == snapshots.size() || snapshots[i + 1].dataset != snapshots[i].dataset;
    if (!newest) continue;
    auto dataset = LoadSnapshot(snapshots[i], store.mutable_memory());
    loaded.lsn[snapshots[i].dataset] = snapshots[i].lsn;
    if (!dataset.ok()) {
      loaded.damaged[snapshots[i].dataset] = {snapshots[i], dataset.status()};
      continue;
    }
    result->snapshots += 1;
    result->snapshot_rows += (*dataset)->Snapshot().num_rows;
    result->restored_index_rows += (*dataset)->index().restored_rows();
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

// A record of a dataset whose snapshot is damaged, past the snapshot's LSN: a drop makes the
// snapshot garbage (removed here, and the drop is done: true); any other record needs it.
// False for records of other datasets.
arrow::Result<bool> ResolveDamaged(std::map<std::string, DamagedSnapshot>& damaged,
                                   const WalEntry& entry) {
  auto it = damaged.find(entry.dataset);
  if (it == damaged.end() || entry.lsn <= it->second.dir.lsn) return false;
  if (entry.type != WalRecordType::kDropDataset) {
    return SnapshotNeeded(it->second, "the WAL changes it at LSN " + std::to_string(entry.lsn));
  }
  spdlog::warn(
      "recovery: removing {}, a damaged snapshot of dataset '{}', which the WAL drops "
      "at LSN {} ({})",
      it->second.dir.path, entry.dataset, entry.lsn, it->second.why.message());
  ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(it->second.dir.path));
  damaged.erase(it);
  return true;
}

}  // namespace

arrow::Result<RecoveryResult> Recover(VectorStore& store, const RecoveryOptions& options) {
  RecoveryResult result;
  LoadedSnapshots snapshots;
  if (!options.snapshot_dir.empty()) {
    ARROW_ASSIGN_OR_RAISE(snapshots, LoadSnapshots(store, options.snapshot_dir, &result));
  }
  const std::map<std::string, uint64_t>& snapshot_lsn = snapshots.lsn;
  ARROW_ASSIGN_OR_RAISE(auto segments, ListWalSegments(options.wal_dir));
  const bool checkpointed = !segments.empty() && segments.front().first_lsn > 1;
  uint64_t skipped_corrupt = 0;
  auto apply = [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) -> arrow::Status {
    auto entry = DecodePayload(lsn, std::move(payload));
    arrow::Status status = entry.status();
    if (entry.ok()) {
      ARROW_ASSIGN_OR_RAISE(const bool dropped_damaged, ResolveDamaged(snapshots.damaged, *entry));
      if (dropped_damaged) {
        ++result.skipped_records;
        return arrow::Status::OK();
      }
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
  if (!snapshots.damaged.empty()) {
    return SnapshotNeeded(snapshots.damaged.begin()->second, "the WAL does not drop it");
  }
  // The log may end before a snapshot's LSN (its segments were checkpointed away) or be an
  // empty segment: LSNs must still never be reused.
  uint64_t last_lsn = result.log.last_lsn;
  for (const auto& [name, lsn] : snapshot_lsn) last_lsn = std::max(last_lsn, lsn);
  if (!segments.empty()) last_lsn = std::max(last_lsn, segments.back().first_lsn - 1);
  result.next_lsn = last_lsn + 1;
  return result;
}

}  // namespace arbalest
