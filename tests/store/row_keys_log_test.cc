// The dataset's row keys (store/row_keys.h) across restarts: a snapshot saves them (manifest
// version 6, persist/snapshot_format.h) and loading restores them, so the keys the log's
// records of version 2 name (persist/wal_format.h) mean the same rows before and after a
// restart; a log of version-1 records continued by version-2 ones replays to the same rows;
// keys that no row has are named.
#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "logged_store_test.h"
#include "persist/snapshot_format.h"
#include "persist/wal_reader.h"
#include "testing/batches.h"
#include "text/row_filter.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::MakeVectorBatch;

constexpr int32_t kDim = 4;

// Writes a log by hand: the dataset's creation, then `records`.
void WriteLog(const std::string& dir, const std::vector<WalPayload>& records) {
  WalOptions options;
  options.dir = dir;
  auto writer = *WalWriter::Open(options, 1);
  ASSERT_TRUE(
      writer->Append(*EncodeCreateDataset("ds", MakeVectorBatch(0, 1, kDim)->schema())).ok());
  for (const WalPayload& record : records) ASSERT_TRUE(writer->Append(record).ok());
}

class RowKeysLogTest : public testing::LoggedStoreTest {
 protected:
  // A log of `records` (WriteLog) fails the start with `message`.
  void ExpectRefused(const std::vector<WalPayload>& records, const std::string& message) {
    fs::remove_all(wal_dir());
    WriteLog(wal_dir(), records);
    auto refused = TryOpen();
    ASSERT_FALSE(refused.ok()) << message;
    EXPECT_NE(refused.status().message().find(message), std::string::npos)
        << refused.status().message();
  }

  // Every row's key, and the key the next row takes.
  static std::vector<uint64_t> KeysOf(const Dataset& dataset, uint64_t* next_key) {
    const DatasetSnapshot view = dataset.Snapshot();
    std::vector<uint64_t> keys;
    for (int64_t row = 0; row < view.num_rows; ++row) keys.push_back(view.row_keys().KeyOf(row));
    *next_key = view.next_key();
    return keys;
  }

  // Each live row's id (column 0) with its key.
  static std::map<int64_t, uint64_t> LiveKeys(const Dataset& dataset) {
    const DatasetSnapshot view = dataset.Snapshot();
    std::map<int64_t, uint64_t> keys;
    int64_t row = 0;
    for (const auto& batch : view.batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      for (int64_t i = 0; i < ids.length(); ++i, ++row) {
        if (!view.IsDeleted(row)) {
          keys[ids.Value(i)] = view.row_keys().KeyOf(static_cast<uint64_t>(row));
        }
      }
    }
    return keys;
  }

  // The dataset's rows were appended with ids 0, 1, 2, ...: each row's key is its id.
  static void ExpectKeysAreIds(const Dataset& dataset) {
    const DatasetSnapshot view = dataset.Snapshot();
    int64_t row = 0;
    for (const auto& batch : view.batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      for (int64_t i = 0; i < ids.length(); ++i, ++row) {
        ASSERT_EQ(view.row_keys().KeyOf(static_cast<uint64_t>(row)),
                  static_cast<uint64_t>(ids.Value(i)))
            << "row " << row;
      }
    }
  }

  // A store whose compactions renumber the keys once `rekey_gone_keys` are gone and as many as
  // the rows left (0: at every compaction), with no background compaction.
  std::unique_ptr<VectorStore> OpenRekeying(uint64_t rekey_gone_keys) {
    auto store = Open();
    CompactionOptions options;
    options.deleted_fraction = 0;
    options.merge_segments = false;
    options.rekey_gone_keys = rekey_gone_keys;
    store->StartCompaction(options);
    return store;
  }

  // The rekey records in the log.
  int RekeyRecords() const {
    int rekeys = 0;
    EXPECT_TRUE(ReadWal(wal_dir(), {}, [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
                  ARROW_ASSIGN_OR_RAISE(WalEntry entry, DecodePayload(lsn, std::move(payload)));
                  rekeys += entry.type == WalRecordType::kRekey;
                  return arrow::Status::OK();
                }).ok());
    return rekeys;
  }

  // What a restart must find again of `dataset`.
  struct Seen {
    std::shared_ptr<arrow::Table> contents;
    std::map<int64_t, uint64_t> keys;
    uint64_t next_key = 0;
    int64_t rows = 0;
    int64_t deleted = 0;
  };
  static Seen See(const VectorStore& store, const std::string& name) {
    const Dataset& dataset = *store.Get(name).ValueOrDie();
    const DatasetSnapshot view = dataset.Snapshot();
    return {Contents(store, name), LiveKeys(dataset), view.next_key(), view.num_rows,
            view.deleted_rows};
  }
  static void ExpectSame(const Seen& seen, const Seen& live) {
    EXPECT_TRUE(seen.contents->Equals(*live.contents));
    EXPECT_EQ(seen.keys, live.keys);
    EXPECT_EQ(seen.next_key, live.next_key);
    EXPECT_EQ(seen.rows, live.rows);
    EXPECT_EQ(seen.deleted, live.deleted);
  }

  void DeleteAndCompact(VectorStore& store, Dataset& dataset, const std::vector<int64_t>& ids) {
    ASSERT_TRUE(store.Delete(dataset, *Ids(ids)).ok());
    auto compacted = store.Compact(dataset);
    ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
    EXPECT_EQ(compacted->reclaimed_rows, static_cast<int64_t>(ids.size()));
  }
};

// Two compactions, then a snapshot: the restart has the same key for every row, the same gone
// keys and the same next key, from the manifest's keys (no record is replayed).
TEST_F(RowKeysLogTest, KeysSurviveASnapshotAfterCompactions) {
  std::vector<uint64_t> keys;
  uint64_t next_key = 0;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, kDim));
    DeleteAndCompact(*store, *dataset, {3, 4, 50});
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(100, 30, kDim)).ok());
    DeleteAndCompact(*store, *dataset, {0, 99, 120});
    keys = KeysOf(*dataset, &next_key);
    ExpectKeysAreIds(*dataset);
    ASSERT_EQ(keys.size(), 124u);
    EXPECT_EQ(next_key, 130u);
    EXPECT_EQ(keys[0], 1u);  // key 0 (id 0) is gone
    EXPECT_EQ(keys[2], 5u);  // keys 3 and 4 are gone
    SnapshotAll(*store);
  }
  const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
  ASSERT_EQ(listing.complete.size(), 1u);
  auto manifest = ReadManifest(listing.complete[0].path);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->format_version(), kSnapshotFormatVersion);
  EXPECT_EQ(manifest->next_key, 130u);
  EXPECT_EQ(manifest->gone_key_count, 6u);
  ASSERT_TRUE(manifest->gone_keys.has_value());

  auto store = Open();
  EXPECT_EQ(recovered_.rows, 0);
  uint64_t restored_next = 0;
  EXPECT_EQ(KeysOf(*store->Get("docs").ValueOrDie(), &restored_next), keys);
  EXPECT_EQ(restored_next, next_key);
  // The loaded keys go on as the live ones did: a put takes the next key.
  auto dataset = store->Get("docs").ValueOrDie();
  ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(130, 5, kDim)).ok());
  EXPECT_EQ(dataset->Snapshot().next_key(), 135u);
  EXPECT_EQ(dataset->Snapshot().row_keys().KeyOf(124), 130u);
}

// Changes after the snapshot (a compaction, puts, deletes): the restart loads the snapshot's
// keys and replays the log after it; every row keeps its key, and every acked change is there.
TEST_F(RowKeysLogTest, KeysAfterASnapshotAndLaterChangesNameTheSameRows) {
  std::shared_ptr<arrow::Table> live;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 80, kDim));
    DeleteAndCompact(*store, *dataset, {10, 11});
    SnapshotAll(*store);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(80, 20, kDim)).ok());
    DeleteAndCompact(*store, *dataset, {5, 85});
    ASSERT_TRUE(store->Delete(*dataset, *Ids({90, 3})).ok());
    ExpectKeysAreIds(*dataset);
    live = Contents(*store, "docs");
  }
  auto store = Open();
  auto dataset = store->Get("docs").ValueOrDie();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*live));
  ExpectKeysAreIds(*dataset);
  EXPECT_EQ(dataset->Snapshot().next_key(), 100u);
  ASSERT_TRUE(store->Compact(*dataset).ok());
  ExpectKeysAreIds(*dataset);
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*live));
}

// A compaction after a snapshot, with nothing logged since: the next snapshot has the same
// LSN and fewer graph rows, and is still the newer one (its layout generation). A crash that
// kept the older directory (its removal interrupted) leaves both: the restart loads the
// compacted rows and removes the older one.
TEST_F(RowKeysLogTest, ASnapshotAfterACompactionAloneIsTheNewerOne) {
  const std::string kept = dir_ / "kept";
  std::string older;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 60, kDim));
    IndexRows(*dataset, 60);
    ASSERT_TRUE(store->Delete(*dataset, *Ids({1, 2, 3})).ok());
    ASSERT_EQ(SnapshotAll(*store).at(0).indexed_rows, 60);
    older = ListSnapshotDirs(snapshot_dir())->complete.at(0).path;
    fs::copy(older, kept, fs::copy_options::recursive);
    ASSERT_EQ(store->Compact(*dataset)->reclaimed_rows, 3);
    const std::vector<SnapshotReport> reports = SnapshotAll(*store);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].indexed_rows, 57);
  }
  ASSERT_FALSE(fs::exists(older));
  fs::rename(kept, older);  // as if its removal had been interrupted
  auto store = Open();
  auto dataset = store->Get("docs").ValueOrDie();
  EXPECT_EQ(recovered_.snapshot_rows, 57);
  EXPECT_EQ(dataset->Snapshot().num_rows, 57);
  EXPECT_EQ(dataset->Snapshot().deleted_rows, 0);
  ExpectKeysAreIds(*dataset);
  EXPECT_EQ(dataset->Snapshot().next_key(), 60u);
  EXPECT_FALSE(fs::exists(older));
}

// A damaged gone-keys file fails the load naming the file.
TEST_F(RowKeysLogTest, ADamagedGoneKeysFileIsNamed) {
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 40, kDim));
    DeleteAndCompact(*store, *dataset, {1, 2});
    SnapshotAll(*store);
  }
  const SnapshotListing listing = *ListSnapshotDirs(snapshot_dir());
  ASSERT_EQ(listing.complete.size(), 1u);
  const std::string path = listing.complete[0].path + "/" + std::string(kSnapshotGoneKeysFile);
  ASSERT_TRUE(WriteTombstones(Roaring::bitmapOf(2, 1, 7), path).ok());  // other keys
  auto store = TryOpen();
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status().message();
}

// The upgrade: a build before row keys logged puts, deletes, upserts and compactions by row
// number; this build continues the log with records of row keys (and a compaction, then
// more). The restart replays both to the rows the live server had, with its keys.
TEST_F(RowKeysLogTest, ALogOfRowNumbersContinuedByRowKeysReplaysToTheSameRows) {
  const auto unique = [](int64_t first_id, int64_t rows) {
    return MakeVectorBatch(first_id, rows, kDim)
        ->ReplaceSchemaMetadata(arrow::key_value_metadata({"arbalest.unique_id"}, {"true"}));
  };
  log_row_numbers_ = true;
  {
    auto store = Open();
    auto dataset = Put(*store, "docs", unique(0, 50));
    DeleteAndCompact(*store, *dataset, {1, 2, 40});
    ASSERT_TRUE(store->Append(*dataset, unique(45, 10)).ok());  // replaces 45..49
    ASSERT_TRUE(store->Delete(*dataset, *Ids({7})).ok());
  }
  std::shared_ptr<arrow::Table> live;
  std::map<int64_t, uint64_t> keys;
  uint64_t next_key = 0;
  log_row_numbers_ = false;
  {
    auto store = Open();
    auto dataset = store->Get("docs").ValueOrDie();
    ASSERT_TRUE(store->Append(*dataset, unique(50, 10)).ok());  // replaces 50..54
    ASSERT_TRUE(store->Delete(*dataset, *Ids({8, 9, 57})).ok());
    ASSERT_TRUE(store->Delete(*dataset, *Ids({10})).ok());
    ASSERT_TRUE(store->Compact(*dataset).ok());               // every deleted row so far
    ASSERT_TRUE(store->Append(*dataset, unique(3, 2)).ok());  // replaces 3, 4
    ASSERT_TRUE(store->Delete(*dataset, *Ids({11, 59})).ok());
    live = Contents(*store, "docs");
    keys = LiveKeys(*dataset);
    next_key = dataset->Snapshot().next_key();
  }
  // Both kinds of record are in the log.
  int keyed = 0, numbered = 0;
  ASSERT_TRUE(ReadWal(wal_dir(), {}, [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
                ARROW_ASSIGN_OR_RAISE(WalEntry entry, DecodePayload(lsn, std::move(payload)));
                if (entry.type == WalRecordType::kAppend || entry.type == WalRecordType::kDelete ||
                    entry.type == WalRecordType::kUpsert) {
                  ++(entry.keyed ? keyed : numbered);
                }
                return arrow::Status::OK();
              }).ok());
  EXPECT_GE(keyed, 5);
  EXPECT_GE(numbered, 4);
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "docs")->Equals(*live));
  auto dataset = store->Get("docs").ValueOrDie();
  EXPECT_EQ(LiveKeys(*dataset), keys);
  EXPECT_EQ(dataset->Snapshot().next_key(), next_key);
  std::set<int64_t> expected;
  for (int64_t id = 0; id < 60; ++id) expected.insert(id);
  for (const int64_t id : {1, 2, 7, 8, 9, 10, 11, 40, 57, 59}) expected.erase(id);
  EXPECT_EQ(IdsIn(*live), expected);
}

// Compactions that renumber the keys (a rekey record each): afterwards key = row and the next
// key is the row count, so the dataset's life is not capped at 2^32 keys. A restart with no
// snapshot replays both rekeys to the same rows, keys and next key, and the log goes on in the
// new numbering across a second restart.
TEST_F(RowKeysLogTest, RekeyingCompactionsRenumberKeysAndReplayAlike) {
  Seen live;
  {
    auto store = OpenRekeying(0);
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 100, kDim));
    ASSERT_TRUE(store->Delete(*dataset, *Ids({3, 4, 50})).ok());
    auto report = store->Compact(*dataset);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->reclaimed_rows, 3);
    EXPECT_EQ(report->retired_keys, 3u);
    EXPECT_NE(report->lsn, 0u);  // logged
    EXPECT_TRUE(dataset->Snapshot().row_keys().identity());
    EXPECT_EQ(dataset->Snapshot().next_key(), 97u);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(100, 30, kDim)).ok());
    EXPECT_EQ(dataset->Snapshot().row_keys().KeyOf(97), 97u);  // id 100's
    ASSERT_TRUE(store->Delete(*dataset, *Ids({0, 99, 120})).ok());
    report = store->Compact(*dataset);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->retired_keys, 3u);
    EXPECT_EQ(dataset->Snapshot().next_key(), 124u);
    ASSERT_TRUE(store->Delete(*dataset, *Ids({7, 110})).ok());  // not compacted
    live = See(*store, "docs");
  }
  EXPECT_EQ(RekeyRecords(), 2);
  {
    auto store = Open();
    EXPECT_EQ(recovered_.snapshot_rows, 0);
    ExpectSame(See(*store, "docs"), live);
    EXPECT_EQ(live.deleted, 2);
    auto dataset = store->Get("docs").ValueOrDie();
    ASSERT_TRUE(store->Delete(*dataset, *Ids({8})).ok());
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(130, 5, kDim)).ok());
    live = See(*store, "docs");
    EXPECT_EQ(live.next_key, 129u);
  }
  auto store = Open();
  ExpectSame(See(*store, "docs"), live);
  std::set<int64_t> expected;
  for (int64_t id = 0; id < 135; ++id) expected.insert(id);
  for (const int64_t id : {0, 3, 4, 7, 8, 50, 99, 110, 120}) expected.erase(id);
  EXPECT_EQ(IdsIn(*live.contents), expected);
}

// A snapshot, then a compaction that does not rekey (logs nothing), then one that does: replay
// from the snapshot has the first compaction's rows still (deleted), and the rekey drops them
// as the live server had, so the restart has the live rows under the live keys.
TEST_F(RowKeysLogTest, ARekeyDropsTheRowsOfAnUnloggedCompactionOnReplay) {
  Seen live;
  {
    auto store = OpenRekeying(4);  // 4 gone keys, and as many as the rows left
    auto dataset = Put(*store, "docs", MakeVectorBatch(0, 10, kDim));
    ASSERT_TRUE(store->Delete(*dataset, *Ids({1, 2})).ok());
    EXPECT_EQ(store->Compact(*dataset)->retired_keys, 0u);  // 2 gone
    SnapshotAll(*store);
    ASSERT_TRUE(store->Delete(*dataset, *Ids({3})).ok());
    EXPECT_EQ(store->Compact(*dataset)->retired_keys, 0u);  // 3 gone, 7 rows
    ASSERT_TRUE(store->Delete(*dataset, *Ids({4, 5, 6})).ok());
    EXPECT_EQ(store->Compact(*dataset)->retired_keys, 6u);  // 6 gone, 4 rows
    EXPECT_EQ(dataset->Snapshot().next_key(), 4u);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(10, 5, kDim)).ok());
    ASSERT_TRUE(store->Delete(*dataset, *Ids({8, 12})).ok());
    live = See(*store, "docs");
  }
  EXPECT_EQ(RekeyRecords(), 1);
  auto store = Open();
  EXPECT_EQ(recovered_.snapshot_rows, 8);
  ExpectSame(See(*store, "docs"), live);
  EXPECT_EQ(IdsIn(*live.contents), (std::set<int64_t>{0, 7, 9, 10, 11, 13, 14}));
  EXPECT_EQ(live.next_key, 9u);
}

// Upserts and deletes from two threads while compactions rekey and snapshots are taken: every
// change queued before a rekey's record is in the old numbering, every one after in the new,
// so the restart has exactly the live rows and keys.
TEST_F(RowKeysLogTest, RekeysAmongConcurrentUpsertsAndDeletesReplayToTheLiveRows) {
  const auto unique = [](int64_t first_id, int64_t rows) {
    return MakeVectorBatch(first_id, rows, kDim)
        ->ReplaceSchemaMetadata(arrow::key_value_metadata({"arbalest.unique_id"}, {"true"}));
  };
  Seen live;
  {
    auto store = OpenRekeying(0);
    auto dataset = Put(*store, "docs", unique(0, 200));
    std::atomic<bool> failed{false};
    std::atomic<int> writers_left{2};
    std::thread upserts([&] {
      std::mt19937 random(7);
      for (int i = 0; i < 60; ++i) {
        const auto from = static_cast<int64_t>(random() % 250);
        if (!store->Append(*dataset, unique(from, 15)).ok()) failed = true;
      }
      --writers_left;
    });
    std::thread deletes([&] {
      std::mt19937 random(11);
      for (int i = 0; i < 60; ++i) {
        const auto id = static_cast<int64_t>(random() % 265);
        if (!store->Delete(*dataset, *Ids({id, id + 1})).ok()) failed = true;
      }
      --writers_left;
    });
    // Compactions go on for as long as the writers do (a fixed count could all run before a
    // loaded machine schedules the writers), and once more after them, so the rows their
    // upserts and deletes left deleted are rekeyed at least once.
    int compactions = 0;
    int rekeys = 0;
    bool writing = true;
    while (writing || compactions < 25) {
      writing = writers_left.load() > 0;
      auto report = store->Compact(*dataset);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      rekeys += report->retired_keys > 0;
      if (++compactions == 12) SnapshotAll(*store);
    }
    upserts.join();
    deletes.join();
    ASSERT_FALSE(failed);
    EXPECT_GT(rekeys, 0);
    live = See(*store, "docs");
  }
  auto store = Open();
  ExpectSame(See(*store, "docs"), live);
}

// Records whose keys no replayed row has are refused naming the record: an append whose first
// key was given already, a delete of a key past the dataset's; a gap before an append's first
// key is lost rows. With --wal-skip-corrupt a delete's unknown keys are skipped (their rows
// were in lost records), the rest applied.
TEST_F(RowKeysLogTest, KeysNoRowHasAreNamed) {
  ExpectRefused({*EncodeKeyedAppend("ds", *MakeVectorBatch(0, 10, kDim), 0),
                 *EncodeKeyedAppend("ds", *MakeVectorBatch(10, 10, kDim), 5)},
                "WAL record 3 (append of dataset 'ds') gives its rows keys from 5, but the "
                "dataset's rows took keys up to 9 already");
  ExpectRefused({*EncodeKeyedAppend("ds", *MakeVectorBatch(0, 10, kDim), 0),
                 *EncodeKeyedDelete("ds", Roaring::bitmapOf(2, 4, 12))},
                "WAL record 3 of dataset 'ds' names 1 row keys from 12 that no row has (the "
                "dataset's next key is 10)");

  // Keys 10..19 in a lost append: a delete names one of them, the next append starts after.
  ExpectRefused({*EncodeKeyedAppend("ds", *MakeVectorBatch(0, 10, kDim), 0),
                 *EncodeKeyedDelete("ds", Roaring::bitmapOf(2, 4, 12)),
                 *EncodeKeyedAppend("ds", *MakeVectorBatch(20, 10, kDim), 20),
                 *EncodeKeyedDelete("ds", Roaring::bitmapOf(2, 5, 25))},
                "WAL record 3 of dataset 'ds' names 1 row keys from 12 that no row has");
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 10);
  std::set<int64_t> expected;
  for (int64_t id = 0; id < 30; ++id) {
    if ((id < 10 || id >= 20) && id != 4 && id != 5 && id != 25) expected.insert(id);
  }
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), expected);
  auto dataset = store->Get("ds").ValueOrDie();
  EXPECT_EQ(dataset->Snapshot().next_key(), 30u);
  EXPECT_EQ(dataset->Snapshot().row_keys().KeyOf(10), 20u);  // keys 10..19 gone
}

// With --wal-skip-corrupt, a first key implausibly far past replay's (more rows lost at once
// than kMostLostKeysPerRecord, 2^24) is a corrupt record, skipped: marking that many keys gone
// would take memory per key (a fuzzed log asked for 872 million keys, 3.5 GB). A gap below it is
// still lost rows, and the records after either land as logged.
TEST_F(RowKeysLogTest, AFirstKeyFarPastReplaysIsACorruptRecordNotLostRows) {
  const uint64_t far = 10 + (uint64_t{1} << 24) + 1;
  WriteLog(wal_dir(), {*EncodeKeyedAppend("ds", *MakeVectorBatch(0, 10, kDim), 0),
                       *EncodeKeyedAppend("ds", *MakeVectorBatch(100, 5, kDim), far),
                       *EncodeKeyedAppend("ds", *MakeVectorBatch(200, 5, kDim), 20)});
  ASSERT_FALSE(TryOpen().ok());
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 10);  // keys 10..19, not the far record's gap
  std::set<int64_t> expected;
  for (int64_t id = 0; id < 10; ++id) expected.insert(id);
  for (int64_t id = 200; id < 205; ++id) expected.insert(id);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), expected);
  EXPECT_EQ(store->Get("ds").ValueOrDie()->Snapshot().next_key(), 25u);
}

// A rekey record is checked as any record of keys: a next key below replay's, or a retired key
// whose row is not deleted, is refused naming the record. With --wal-skip-corrupt a gap before
// it (a lost append) leaves the lost keys gone, renumbered, so later records land as logged.
TEST_F(RowKeysLogTest, ARekeyRecordIsCheckedAndReplaysAfterLostRecords) {
  const WalPayload ten = *EncodeKeyedAppend("ds", *MakeVectorBatch(0, 10, kDim), 0);
  ExpectRefused({ten, *EncodeRekey("ds", Roaring(), 5)},
                "WAL record 3 (rekey of dataset 'ds') renumbers row keys below 5, but the "
                "dataset's rows took keys up to 9 already");
  ExpectRefused({ten, *EncodeRekey("ds", Roaring::bitmapOf(1, 2), 10)},
                "WAL record 3: compaction of dataset 'ds' drops row 2, which is not deleted");
  ExpectRefused({ten, *EncodeRekey("ds", Roaring::bitmapOf(1, 12), 10)},
                "WAL record 3 of dataset 'ds' names 1 row keys from 12 that no row has");

  // Keys 10..19 in a lost append; the rekey retires key 2 (deleted) and two of the lost keys.
  fs::remove_all(wal_dir());
  WriteLog(wal_dir(), {ten, *EncodeKeyedDelete("ds", Roaring::bitmapOf(1, 2)),
                       *EncodeRekey("ds", Roaring::bitmapOf(3, 2, 12, 13), 20),
                       *EncodeKeyedAppend("ds", *MakeVectorBatch(20, 5, kDim), 17),
                       *EncodeKeyedDelete("ds", Roaring::bitmapOf(1, 17))});
  ASSERT_FALSE(TryOpen().ok());  // the gap
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 10);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")),
            (std::set<int64_t>{0, 1, 3, 4, 5, 6, 7, 8, 9, 21, 22, 23, 24}));
  auto dataset = store->Get("ds").ValueOrDie();
  EXPECT_EQ(dataset->Snapshot().num_rows, 14);  // row 2 dropped; id 20 deleted
  EXPECT_EQ(dataset->Snapshot().next_key(), 22u);
  EXPECT_EQ(dataset->Snapshot().row_keys().KeyOf(9), 17u);  // id 20's: keys 9..16 gone
}

// A compaction that leaves fewer rows than gone keys (threshold 0) also renumbers the text
// index (rebuilt from the rows) and the id map (rewritten as rows): text searches, upserts and
// deletes by id find the right rows afterwards, and across a restart.
TEST_F(RowKeysLogTest, ACompactionLeavingFewRowsRenumbersTheTextIndexAndTheIdMap) {
  const auto unique = [](int64_t first_id, int64_t rows) {
    return MakeVectorBatch(first_id, rows, kDim)
        ->ReplaceSchemaMetadata(arrow::key_value_metadata({"arbalest.unique_id"}, {"true"}));
  };
  // The ids of the live rows whose tag is "tag1" (MakeVectorBatch: "tag" + id % 3), by text.
  const auto tag1_ids = [](const Dataset& dataset) {
    const DatasetSnapshot view = dataset.Snapshot();
    std::vector<int64_t> ids_of_rows;
    for (const auto& batch : view.batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      for (int64_t i = 0; i < ids.length(); ++i) ids_of_rows.push_back(ids.Value(i));
    }
    const RowFilter live =
        RowFilter::FromPredicate([&](uint64_t row) { return !view.IsDeleted(row); });
    std::set<int64_t> found;
    for (const ScoredRow& hit : view.text->Search("tag1", 1000, live)) {
      found.insert(ids_of_rows.at(hit.row));
    }
    return found;
  };
  std::set<int64_t> expected_tag1;
  Seen live;
  {
    auto store = OpenRekeying(0);
    auto dataset = Put(*store, "docs", unique(0, 100));
    ASSERT_NE(dataset->Snapshot().text, nullptr);
    std::vector<int64_t> gone;
    for (int64_t id = 0; id < 60; ++id) gone.push_back(id);
    ASSERT_TRUE(store->Delete(*dataset, *Ids(gone)).ok());
    auto report = store->Compact(*dataset);  // 60 gone, 40 rows left
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_EQ(report->retired_keys, 60u);
    for (int64_t id = 60; id < 100; ++id) {
      if (id % 3 == 1) expected_tag1.insert(id);
    }
    EXPECT_EQ(tag1_ids(*dataset), expected_tag1);
    ASSERT_TRUE(store->Append(*dataset, unique(95, 10)).ok());  // replaces 95..99
    EXPECT_EQ(*store->Delete(*dataset, *Ids({96, 103, 7})), 2);
    for (int64_t id = 100; id < 105; ++id) {
      if (id % 3 == 1) expected_tag1.insert(id);
    }
    expected_tag1.erase(103);
    EXPECT_EQ(tag1_ids(*dataset), expected_tag1);
    EXPECT_EQ(dataset->Snapshot().live_rows(), 40 + 5 - 2);
    live = See(*store, "docs");
  }
  auto store = Open();
  ExpectSame(See(*store, "docs"), live);
  EXPECT_EQ(tag1_ids(*store->Get("docs").ValueOrDie()), expected_tag1);
}

}  // namespace
}  // namespace arbalest
