#include "store/recovery.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "persist/snapshot_format.h"
#include "persist/staging_dir.h"
#include "persist/wal_format.h"
#include "store/replay_numbering.h"
#include "store/replay_progress.h"
#include "store/snapshot_io.h"

namespace arbalest {
namespace {

// With --wal-skip-corrupt, a gap of more keys than this before a record's first key (rows of
// records missing from the log) is taken as a corrupt record, skipped, rather than as that many
// lost rows, whose gone keys would take memory per key (2^24 keys: about 100 MB while they are
// marked, 32 MB kept).
constexpr uint64_t kMostLostKeysPerRecord = uint64_t{1} << 24;

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

// LSNs a..b, for messages.
std::string LsnRange(uint64_t first, uint64_t last) {
  return first == last ? "LSN " + std::to_string(first)
                       : "LSNs " + std::to_string(first) + ".." + std::to_string(last);
}

// Applies the log's records to the store one at a time, checking that none is missing.
class Replay {
 public:
  Replay(VectorStore& store, const RecoveryOptions& options, LoadedSnapshots& snapshots,
         RecoveryResult* result)
      : store_(store), options_(options), snapshots_(snapshots), result_(result) {
    for (const auto& [name, lsn] : snapshots.lsn) numbering_.emplace(name, ReplayNumbering(lsn));
  }

  arrow::Status Apply(uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
    auto entry = DecodePayload(lsn, std::move(payload));
    if (!entry.ok()) return Skip(lsn, entry.status());
    if (entry->type == WalRecordType::kCreateNamespace ||
        entry->type == WalRecordType::kDropNamespace) {
      // A namespace's drop drops its datasets first, each as its own drop would.
      for (const std::string& dataset : entry->datasets) {
        WalEntry drop;
        drop.lsn = lsn;
        drop.type = WalRecordType::kDropDataset;
        drop.dataset = dataset;
        ARROW_RETURN_NOT_OK(ApplyEntry(drop));
      }
      if (arrow::Status applied = store_.ApplyLogged(*entry); !applied.ok()) {
        return Skip(lsn, applied);
      }
      return arrow::Status::OK();
    }
    return ApplyEntry(*entry);
  }

  // A record of one dataset.
  arrow::Status ApplyEntry(WalEntry& entry) {
    const uint64_t lsn = entry.lsn;
    ARROW_ASSIGN_OR_RAISE(const bool dropped_damaged, ResolveDamaged(snapshots_.damaged, entry));
    auto covered = snapshots_.lsn.find(entry.dataset);
    if (dropped_damaged || (covered != snapshots_.lsn.end() && lsn <= covered->second)) {
      ++result_->skipped_records;
      return arrow::Status::OK();
    }
    if (entry.type == WalRecordType::kCreateDataset) return Create(entry);
    auto dataset = store_.Get(entry.dataset);
    if (!dataset.ok()) return Orphan(entry);
    return Change(**dataset, entry);
  }

  // After the last record: records of datasets that were never created are lost ones' remains.
  arrow::Status Finish() {
    while (!orphans_.empty()) ARROW_RETURN_NOT_OK(LostOrphans(orphans_.begin()->first));
    for (const auto& [name, numbering] : numbering_) {
      if (numbering.renumbered() && store_.Get(name).ok()) result_->renumbered.push_back(name);
    }
    return arrow::Status::OK();
  }

  // Records skipped here (skip_corrupt only), beyond those the log reader skipped.
  uint64_t skipped_corrupt() const { return skipped_corrupt_; }

 private:
  // Records of a dataset replay does not have (since its creation or snapshot).
  struct Orphans {
    uint64_t first = 0, last = 0, count = 0;
  };

  // A record that cannot be applied: an error, or with skip_corrupt a logged loss.
  arrow::Status Skip(uint64_t lsn, const arrow::Status& why) {
    if (!options_.wal.skip_corrupt) {
      return why.WithMessage("recovery from ", options_.wal_dir, " failed: ", why.message(),
                             " (start with --wal-skip-corrupt to skip it)");
    }
    spdlog::error("recovery: skipping WAL record {}: {}", lsn, why.message());
    ++skipped_corrupt_;
    return arrow::Status::OK();
  }

  arrow::Status Create(const WalEntry& entry) {
    if (orphans_.contains(entry.dataset)) ARROW_RETURN_NOT_OK(LostOrphans(entry.dataset));
    if (store_.Get(entry.dataset).ok()) {
      if (unchanged_.contains(entry.dataset)) {
        // A put that created it failed after its creation was logged: nothing was logged for
        // it since, and the server never had it.
        spdlog::info(
            "recovery: WAL record {} creates dataset '{}' again, over a creation that "
            "was never acknowledged",
            entry.lsn, entry.dataset);
        ARROW_RETURN_NOT_OK(DropEarlier(entry));
      } else if (options_.wal.skip_corrupt) {
        spdlog::error(
            "recovery: WAL record {} creates dataset '{}' again, but no record dropped it: the "
            "drop was lost; dropping the earlier one",
            entry.lsn, entry.dataset);
        ARROW_RETURN_NOT_OK(DropEarlier(entry));
      }
    }
    if (arrow::Status created = store_.ApplyLogged(entry); !created.ok()) {
      return Skip(entry.lsn, created);
    }
    numbering_.insert_or_assign(entry.dataset, ReplayNumbering(entry.lsn));
    unchanged_.insert(entry.dataset);
    return arrow::Status::OK();
  }

  // Drops the dataset that `creation` creates again.
  arrow::Status DropEarlier(const WalEntry& creation) {
    WalEntry drop;
    drop.lsn = creation.lsn;
    drop.type = WalRecordType::kDropDataset;
    drop.dataset = creation.dataset;
    return store_.ApplyLogged(drop);
  }

  // A record of a dataset that does not exist at this point of the log: fine if the log drops
  // the dataset later (its creation and snapshot were deleted after the drop).
  arrow::Status Orphan(const WalEntry& entry) {
    ++result_->skipped_records;
    if (entry.type == WalRecordType::kDropDataset) {
      orphans_.erase(entry.dataset);
      return arrow::Status::OK();
    }
    Orphans& orphans = orphans_[entry.dataset];
    if (orphans.count++ == 0) orphans.first = entry.lsn;
    orphans.last = entry.lsn;
    return arrow::Status::OK();
  }

  // Records of `name` that no creation, snapshot or later drop explains. `name` by value: the
  // caller passes the key of orphans_ that this erases.
  arrow::Status LostOrphans(std::string name) {
    const Orphans orphans = orphans_[name];
    orphans_.erase(name);
    const std::string what =
        "the WAL has " + std::to_string(orphans.count) + " records of dataset '" + name + "' (" +
        LsnRange(orphans.first, orphans.last) +
        ") but neither the record that created it nor a snapshot of it, and does not drop it: "
        "its earlier records are lost (a WAL segment or its snapshot is missing)";
    if (!options_.wal.skip_corrupt) {
      return arrow::Status::IOError("recovery from ", options_.wal_dir, " failed: ", what,
                                    ". Restore the missing files, or start with "
                                    "--wal-skip-corrupt to go on without the dataset");
    }
    spdlog::error("recovery: {}; skipping them", what);
    skipped_corrupt_ += orphans.count;
    return arrow::Status::OK();
  }

  // A record of `dataset`, which replay has.
  arrow::Status Change(Dataset& dataset, WalEntry& entry) {
    unchanged_.erase(entry.dataset);
    auto numbered = numbering_.try_emplace(entry.dataset, ReplayNumbering(0)).first;
    ReplayNumbering& numbering = numbered->second;
    const bool skip_corrupt = options_.wal.skip_corrupt;
    const int64_t lost_before = result_->lost_rows;
    if (arrow::Status checked =
            numbering.Check(entry, dataset.num_rows(), skip_corrupt, &result_->lost_rows);
        !checked.ok()) {
      return Skip(entry.lsn, checked);
    }
    if (result_->lost_rows > lost_before) {
      // Rows of lost records had keys too: later records of version 2 name keys after them.
      ARROW_RETURN_NOT_OK(
          dataset.SkipKeys(static_cast<uint64_t>(result_->lost_rows - lost_before)));
    }
    if (entry.type == WalRecordType::kRekey) return Rekey(dataset, entry, numbered);
    if (entry.keyed) {
      ARROW_ASSIGN_OR_RAISE(const bool place, PlaceKeyed(dataset, entry, numbering));
      if (!place) return arrow::Status::OK();
      return ApplyChange(entry, numbered, Roaring());
    }
    const bool names_rows = entry.type == WalRecordType::kDelete ||
                            entry.type == WalRecordType::kCompact ||
                            entry.type == WalRecordType::kUpsert;
    if (entry.type == WalRecordType::kUpsert && !numbering.placeable()) {
      spdlog::error(
          "recovery: WAL record {}, an upsert into dataset '{}', replaced {} rows that cannot be "
          "placed (see above): its rows are appended, the rows it replaced stay",
          entry.lsn, entry.dataset, entry.rows.cardinality());
      entry.rows = Roaring();
    } else if (names_rows && !numbering.placeable()) {
      spdlog::error(
          "recovery: skipping WAL record {}, a {} of {} rows of dataset '{}' that "
          "cannot be placed (see above)",
          entry.lsn, entry.type == WalRecordType::kDelete ? "delete" : "compaction",
          entry.rows.cardinality(), entry.dataset);
      ++skipped_corrupt_;
      return arrow::Status::OK();
    }
    const Roaring logged_rows = entry.rows;
    if (names_rows) entry.rows = numbering.Translate(logged_rows);
    if (entry.type == WalRecordType::kCompact && skip_corrupt) {
      ARROW_RETURN_NOT_OK(DeleteLostDeletes(dataset, entry));
    }
    return ApplyChange(entry, numbered, logged_rows);
  }

  // Maps the keys of `entry`, a record of version 2, to the rows replay has (PlaceKeys): its
  // rows become row numbers. A gap before its first key (lost appends) or keys no row has are
  // an error, or with skip_corrupt a logged loss: the gap's keys are gone, unknown keys
  // skipped. False when the record was skipped.
  arrow::Result<bool> PlaceKeyed(Dataset& dataset, WalEntry& entry, ReplayNumbering& numbering) {
    // Replay is the dataset's only writer: its keys and its row count are a consistent pair
    // (DatasetSnapshot::next_key without a view of every batch per record).
    const std::shared_ptr<const RowKeys> keys = dataset.row_keys();
    const int64_t rows = dataset.num_rows();
    const uint64_t next_key = keys->NextKey(rows);
    auto placed = PlaceKeys(entry, *keys, next_key);
    if (!placed.ok()) {
      ARROW_RETURN_NOT_OK(Skip(entry.lsn, placed.status()));
      return false;
    }
    const std::string record =
        "WAL record " + std::to_string(entry.lsn) + " of dataset '" + entry.dataset + "'";
    if (placed->lost_keys > 0) {
      // Keys next_key .. first_key - 1 (rows numbered as keys: store/row_keys.h).
      const std::string lost =
          std::to_string(next_key) + ".." + std::to_string(entry.first_key - 1);
      if (options_.wal.skip_corrupt && placed->lost_keys > kMostLostKeysPerRecord) {
        // Marking the keys gone costs memory per key (RowKeys): a corrupt first key must not
        // exhaust it (a fuzzed log asked for 872 million, 3.5 GB).
        ARROW_RETURN_NOT_OK(
            Skip(entry.lsn,
                 arrow::Status::Invalid(record, " gives its first row key ", entry.first_key, ", ",
                                        placed->lost_keys, " keys past replay's next key ",
                                        next_key, ": more than ", kMostLostKeysPerRecord,
                                        " rows lost at once is taken as a corrupt record")));
        return false;
      }
      if (!options_.wal.skip_corrupt) {
        ARROW_RETURN_NOT_OK(
            Skip(entry.lsn,
                 arrow::Status::Invalid(record, " gives its first row key ", entry.first_key,
                                        ", but replay's next key is ", next_key, ": rows ", lost,
                                        " were in records that are missing from the log")));
      }
      spdlog::error(
          "recovery: dataset '{}' lost rows {} ({} rows) with records missing before WAL record "
          "{} (rows numbered by key); its later records are applied to the rows they named",
          entry.dataset, lost, placed->lost_keys, entry.lsn);
      result_->lost_rows += static_cast<int64_t>(placed->lost_keys);
      numbering.Lost(rows, static_cast<int64_t>(placed->lost_keys));
      ARROW_RETURN_NOT_OK(dataset.SkipKeys(placed->lost_keys));
    }
    if (!placed->unknown.isEmpty()) {
      const std::string what = record + " names " + std::to_string(placed->unknown.cardinality()) +
                               " row keys from " + std::to_string(placed->unknown.minimum()) +
                               " that no row has (the dataset's next key is " +
                               std::to_string(next_key) + ")";
      if (!options_.wal.skip_corrupt) {
        ARROW_RETURN_NOT_OK(Skip(entry.lsn, arrow::Status::Invalid(what)));
      }
      spdlog::error("recovery: {}: their rows were in lost records; skipping those keys", what);
    }
    entry.rows = std::move(placed->rows);
    entry.keyed = false;
    return true;
  }

  // A rekey of `dataset` (Dataset::RekeyRecovered): its keys are checked as any record's
  // (PlaceKeyed: a gap before its next key, keys no row has), and the rows under its retired
  // keys must be deleted; with skip_corrupt, rows whose delete was lost are deleted first and
  // unknown keys are left out.
  arrow::Status Rekey(Dataset& dataset, WalEntry& entry,
                      std::map<std::string, ReplayNumbering>::iterator numbered) {
    WalEntry placed = entry;  // its rows become replay's rows under the retired keys
    ARROW_ASSIGN_OR_RAISE(const bool place, PlaceKeyed(dataset, placed, numbered->second));
    if (!place) return arrow::Status::OK();
    if (options_.wal.skip_corrupt) {
      ARROW_RETURN_NOT_OK(DeleteLostDeletes(dataset, placed));
      Roaring unknown;  // keys at or past its next key: no row had them (PlaceKeyed logged it)
      unknown.addRange(entry.first_key, uint64_t{1} << 32);
      entry.rows -= unknown;
    }
    return ApplyChange(entry, numbered, Roaring());
  }

  // Applies `entry`, its rows numbered as replay's, and counts what it did. `dropped`: a
  // compaction's rows as logged.
  arrow::Status ApplyChange(WalEntry& entry,
                            std::map<std::string, ReplayNumbering>::iterator numbered,
                            const Roaring& dropped) {
    ReplayNumbering& numbering = numbered->second;
    if (arrow::Status applied = store_.ApplyLogged(entry); !applied.ok()) {
      return Skip(entry.lsn, applied);
    }
    switch (entry.type) {
      case WalRecordType::kAppend:
        result_->rows += entry.batch->num_rows();
        break;
      case WalRecordType::kUpsert:
        result_->rows += entry.batch->num_rows();
        result_->deleted_rows += static_cast<int64_t>(entry.rows.cardinality());
        break;
      case WalRecordType::kDelete:
        result_->deleted_rows += static_cast<int64_t>(entry.rows.cardinality());
        break;
      case WalRecordType::kCompact:
        numbering.Compacted(dropped);
        break;
      case WalRecordType::kDropDataset:
        numbering_.erase(numbered);
        break;
      default:
        break;
    }
    return arrow::Status::OK();
  }

  // A compaction drops only deleted rows: those it drops that are not deleted were deleted by
  // a record that is lost. Deleted first, so that the compaction renumbers as it did.
  arrow::Status DeleteLostDeletes(Dataset& dataset, const WalEntry& compaction) {
    const Roaring undeleted = compaction.rows - dataset.Snapshot().DeletedRows();
    if (undeleted.isEmpty()) return arrow::Status::OK();
    spdlog::error(
        "recovery: WAL record {} compacts away {} rows of dataset '{}' that no record deleted: "
        "their delete was lost; deleting them",
        compaction.lsn, undeleted.cardinality(), compaction.dataset);
    if (arrow::Status deleted = dataset.DeleteRecovered(undeleted, compaction.lsn); !deleted.ok()) {
      return Skip(compaction.lsn, deleted);
    }
    return arrow::Status::OK();
  }

  VectorStore& store_;
  const RecoveryOptions& options_;
  LoadedSnapshots& snapshots_;
  RecoveryResult* result_;
  std::map<std::string, ReplayNumbering> numbering_;  // datasets replay has
  std::map<std::string, Orphans> orphans_;
  std::set<std::string> unchanged_;  // created by a record, with no record of theirs since
  uint64_t skipped_corrupt_ = 0;
};

// The log must reach every snapshot's LSN: a snapshot past its end means its tail is lost.
arrow::Status CheckLogReachesSnapshots(const LoadedSnapshots& snapshots,
                                       const RecoveryOptions& options, RecoveryResult* result) {
  const uint64_t log_end = result->log.next_lsn - 1;
  const std::pair<const std::string, uint64_t>* newest = nullptr;
  for (const auto& entry : snapshots.lsn) {
    if (entry.second > log_end && (!newest || entry.second > newest->second)) newest = &entry;
  }
  if (!newest) return arrow::Status::OK();
  const std::string what =
      "the WAL's records with " + LsnRange(log_end + 1, newest->second) +
      " are missing: the log ends at LSN " + std::to_string(log_end) +
      ", but the snapshot of "
      "dataset '" +
      newest->first + "' holds changes up to LSN " + std::to_string(newest->second) +
      " (the log's last segment is lost, or, after a machine crash under --fsync none or "
      "interval, its last records)";
  if (!options.wal.skip_corrupt) {
    return arrow::Status::IOError(
        "recovery from ", options.wal_dir, " failed: ", what,
        ". Restore the missing files, or start with --wal-skip-corrupt to go on without those "
        "records (what is lost is logged)");
  }
  spdlog::error("recovery: {}; going on without them", what);
  ++result->log.gaps;
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<RecoveryResult> Recover(VectorStore& store, const RecoveryOptions& options) {
  RecoveryResult result;
  LoadedSnapshots snapshots;
  if (!options.snapshot_dir.empty()) {
    ARROW_RETURN_NOT_OK(store.namespaces().Open(
        (std::filesystem::path(options.snapshot_dir) / kNamespacesFile).string()));
    ARROW_ASSIGN_OR_RAISE(snapshots, LoadSnapshots(store, options.snapshot_dir, &result));
  }
  Replay replay(store, options, snapshots, &result);
  ReplayProgress progress(WalBytesOnDisk(options.wal_dir));
  ARROW_ASSIGN_OR_RAISE(result.log,
                        ReadWal(options.wal_dir, options.wal,
                                [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
                                  const std::string line = progress.Note(payload->size());
                                  if (!line.empty()) spdlog::info("{}", line);
                                  return replay.Apply(lsn, std::move(payload));
                                }));
  ARROW_RETURN_NOT_OK(replay.Finish());
  result.log.skipped_corrupt += replay.skipped_corrupt();
  if (!snapshots.damaged.empty()) {
    return SnapshotNeeded(snapshots.damaged.begin()->second, "the WAL does not drop it");
  }
  ARROW_RETURN_NOT_OK(CheckLogReachesSnapshots(snapshots, options, &result));
  // LSNs are never reused: the log continues after its end, or after the newest snapshot's
  // LSN where a lost tail was accepted.
  result.next_lsn = result.log.next_lsn;
  for (const auto& [name, lsn] : snapshots.lsn)
    result.next_lsn = std::max(result.next_lsn, lsn + 1);
  return result;
}

arrow::Status LogRowCounts(VectorStore& store, const RecoveryResult& recovered) {
  for (const std::string& name : recovered.renumbered) {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(name));
    ARROW_RETURN_NOT_OK(store.LogRowCount(*dataset));
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
