// Replay of a log that lost records: every loss is noticed, and with --wal-skip-corrupt later
// records still hit exactly the rows they named. Real stores on real WAL files, damaged the
// way disks and operators damage them.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "logged_store_test.h"
#include "persist/wal_segments.h"
#include "testing/files.h"
#include "testing/legacy_wal.h"
#include "testing/wait.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::MakeVectorBatch;

constexpr int32_t kDim = 4;

// Each test runs on a log of records of version 2 (row keys, what the server writes) and of
// version 1 (row numbers and compactions, what builds before row keys wrote: still replayed).
class WalIntegrityTest : public testing::LoggedStoreTest,
                         public ::testing::WithParamInterface<bool> {
 protected:
  WalIntegrityTest() { log_row_numbers_ = GetParam(); }
  bool keyed() const { return !log_row_numbers_; }

  // The LSNs of the log's records of `type`, in order.
  std::vector<uint64_t> Lsns(WalRecordType type) {
    std::vector<uint64_t> lsns;
    auto read = ReadWal(wal_dir(), {}, [&](uint64_t lsn, std::shared_ptr<arrow::Buffer> payload) {
      ARROW_ASSIGN_OR_RAISE(WalEntry entry, DecodePayload(lsn, std::move(payload)));
      if (entry.type == type) lsns.push_back(lsn);
      return arrow::Status::OK();
    });
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    return lsns;
  }

  // Flips a byte in the middle of record `lsn`'s payload, as a bad disk block would.
  void Corrupt(uint64_t lsn) {
    for (const auto& segment : *ListWalSegments(wal_dir())) {
      std::fstream file(segment.path, std::ios::in | std::ios::out | std::ios::binary);
      const auto size = static_cast<int64_t>(fs::file_size(segment.path));
      for (int64_t offset = 0; offset + static_cast<int64_t>(kWalHeaderSize) <= size;) {
        uint8_t bytes[kWalHeaderSize];
        file.seekg(offset);
        file.read(reinterpret_cast<char*>(bytes), kWalHeaderSize);
        const WalHeader header = *DecodeHeader(bytes);
        if (header.lsn == lsn) {
          file.seekp(offset + kWalHeaderSize + header.payload_length / 2);
          file.put('\x5a');
          return;
        }
        offset += kWalHeaderSize + header.payload_length;
      }
    }
    FAIL() << "no record " << lsn;
  }

  // Deletes the rows with `ids`; returns how many.
  static int64_t DeleteIds(VectorStore& store, const std::vector<int64_t>& ids) {
    auto deleted = store.Delete(**store.Get("ds"), *Ids(ids));
    EXPECT_TRUE(deleted.ok()) << deleted.status().ToString();
    return deleted.ValueOr(0);
  }

  static std::set<int64_t> Range(int64_t begin, int64_t end) {
    std::set<int64_t> ids;
    for (int64_t id = begin; id < end; ++id) ids.insert(id);
    return ids;
  }
  static std::set<int64_t> Without(std::set<int64_t> ids, const std::set<int64_t>& gone) {
    for (int64_t id : gone) ids.erase(id);
    return ids;
  }

  // The error the next open fails with.
  std::string OpenError() {
    auto failed = TryOpen();
    EXPECT_FALSE(failed.ok());
    return failed.status().message();
  }
};

// The case: after an append is skipped, deletes of later rows named row numbers that
// meant other rows to a replay without it (20 live rows were deleted instead).
TEST_P(WalIntegrityTest, DeletesAfterASkippedAppendHitTheRowsTheyNamed) {
  uint64_t lost_append = 0;
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 20, kDim));
    auto dataset = *store->Get("ds");
    lost_append = store->Append(*dataset, MakeVectorBatch(20, 20, kDim))->seq;
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(40, 20, kDim)).ok());
    EXPECT_EQ(DeleteIds(*store, {3, 45, 46, 59}), 4);
  }
  Corrupt(lost_append);
  const std::string message = OpenError();
  EXPECT_NE(message.find("payload checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("--wal-skip-corrupt"), std::string::npos) << message;

  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 20);
  EXPECT_EQ(recovered_.log.skipped_corrupt, 1u);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")),
            Without(Without(Range(0, 60), Range(20, 40)), {3, 45, 46, 59}));
  // The store goes on numbering its rows as replay left them.
  Put(*store, "ds", MakeVectorBatch(60, 5, kDim));
  EXPECT_EQ(DeleteIds(*store, {61, 44}), 2);
}

// An upsert (unique ids) after a skipped append replaces the rows it named: the rows it logged
// as replaced are translated as a delete's are, its own rows as an append's.
TEST_P(WalIntegrityTest, UpsertsAfterASkippedAppendReplaceTheRowsTheyNamed) {
  const auto unique = [](int64_t first_id, int64_t rows) {
    return MakeVectorBatch(first_id, rows, kDim)
        ->ReplaceSchemaMetadata(arrow::key_value_metadata({"arbalest.unique_id"}, {"true"}));
  };
  uint64_t lost_append = 0;
  {
    auto store = Open();
    Put(*store, "ds", unique(0, 10));
    auto dataset = *store->Get("ds");
    lost_append = store->Append(*dataset, unique(10, 10))->seq;
    ASSERT_TRUE(store->Append(*dataset, unique(20, 10)).ok());
    // Replaces rows of ids 5..9 (before the lost batch), 10..19 (in it), 20..24 (after it).
    ASSERT_TRUE(store->Append(*dataset, unique(5, 20)).ok());
    ASSERT_EQ(Lsns(WalRecordType::kUpsert).size(), 1u);
  }
  Corrupt(lost_append);
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 10);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 30));  // each id once
  auto dataset = *store->Get("ds");
  EXPECT_EQ(dataset->Snapshot().live_rows(), 30);
  // The id map was rebuilt on replay's rows: a later upsert still replaces.
  ASSERT_TRUE(store->Append(*dataset, unique(0, 30)).ok());
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 30));
}

// A compaction renumbers the rows, and the lost rows with them.
TEST_P(WalIntegrityTest, CompactionsAfterASkippedAppendRenumberTheLostRowsToo) {
  uint64_t lost_append = 0;
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    auto dataset = *store->Get("ds");
    lost_append = store->Append(*dataset, MakeVectorBatch(10, 10, kDim))->seq;
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(20, 10, kDim)).ok());
    EXPECT_EQ(DeleteIds(*store, {2, 15, 25}), 3);
    ASSERT_TRUE(store->Compact(*dataset).ok());
    EXPECT_EQ(DeleteIds(*store, {27, 12}), 2);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(30, 5, kDim)).ok());
    EXPECT_EQ(DeleteIds(*store, {31}), 1);
  }
  Corrupt(lost_append);
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(recovered_.lost_rows, 10);
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")),
            Without(Without(Range(0, 35), Range(10, 20)), {2, 25, 27, 31}));
}

// A start that lost rows logs the row counts it numbers from, so the next start, which loses
// them again, places the records that start wrote.
TEST_P(WalIntegrityTest, ALaterStartPlacesWhatALossyStartLogged) {
  uint64_t lost_append = 0;
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    auto dataset = *store->Get("ds");
    lost_append = store->Append(*dataset, MakeVectorBatch(10, 10, kDim))->seq;
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(20, 10, kDim)).ok());
    EXPECT_EQ(DeleteIds(*store, {21}), 1);
  }
  Corrupt(lost_append);
  skip_corrupt_ = true;
  {
    auto store = Open();
    EXPECT_EQ(recovered_.renumbered, std::vector<std::string>{"ds"});
    EXPECT_EQ(DeleteIds(*store, {22, 5}), 2);  // rows 11 and 5 of this start's numbering
    Put(*store, "ds", MakeVectorBatch(30, 5, kDim));
    EXPECT_EQ(DeleteIds(*store, {33}), 1);
  }
  const auto expected = Without(Without(Range(0, 35), Range(10, 20)), {5, 21, 22, 33});
  {
    auto store = Open();
    EXPECT_EQ(recovered_.lost_rows, 10);
    EXPECT_EQ(IdsIn(*Contents(*store, "ds")), expected);
  }
  // Without the flag the damage still stops a start.
  skip_corrupt_ = false;
  EXPECT_NE(OpenError().find("payload checksum mismatch"), std::string::npos);
}

// A lost compaction leaves no way to place later deletes by row number: they are skipped,
// never misplaced. By row key they are placed: a compaction does not change keys.
TEST_P(WalIntegrityTest, DeletesAfterALostCompactionAreSkippedOrPlacedByKey) {
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 20, kDim));
    EXPECT_EQ(DeleteIds(*store, {1, 2, 3}), 3);
    ASSERT_TRUE(store->Compact(**store->Get("ds")).ok());
    EXPECT_EQ(DeleteIds(*store, {10}), 1);
  }
  const auto compactions = Lsns(WalRecordType::kCompact);
  if (keyed()) {
    // Not logged at all: the restart replays the rows uncompacted and places the delete.
    EXPECT_TRUE(compactions.empty());
    auto store = Open();
    EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(Range(0, 20), {1, 2, 3, 10}));
    EXPECT_EQ(store->Get("ds").ValueOrDie()->Snapshot().deleted_rows, 4);
    EXPECT_TRUE(recovered_.renumbered.empty());
    return;
  }
  ASSERT_EQ(compactions.size(), 1u);
  Corrupt(compactions[0]);
  skip_corrupt_ = true;
  auto store = Open();
  // Row 10 is back (its delete could not be placed); no other row was hit.
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(Range(0, 20), {1, 2, 3}));
  EXPECT_EQ(recovered_.renumbered, std::vector<std::string>{"ds"});
}

// A compaction logged by row number drops deleted rows only: rows it drops whose delete was
// lost are deleted first, so the compaction renumbers as it did.
TEST_P(WalIntegrityTest, ACompactionAfterALostDeleteStillRenumbersAsLogged) {
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 20, kDim));
    EXPECT_EQ(DeleteIds(*store, {1, 2}), 2);
    EXPECT_EQ(DeleteIds(*store, {7}), 1);
    ASSERT_TRUE(store->Compact(**store->Get("ds")).ok());
    EXPECT_EQ(DeleteIds(*store, {15}), 1);
  }
  Corrupt(Lsns(WalRecordType::kDelete)[1]);
  skip_corrupt_ = true;
  auto store = Open();
  // By key no compaction record reveals the lost delete: row 7 is back, no other row is hit.
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")),
            Without(Range(0, 20),
                    keyed() ? std::set<int64_t>{1, 2, 15} : std::set<int64_t>{1, 2, 7, 15}));
}

// Records of a dataset whose creation is lost (its first segment deleted, in a log written
// before LOG_START) are named, not taken for a dropped dataset's.
TEST_P(WalIntegrityTest, RecordsOfADatasetThatWasNeverCreatedStopRecovery) {
  segment_bytes_ = 2000;
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    for (int i = 1; i < 10; ++i) Put(*store, "ds", MakeVectorBatch(10 * i, 10, kDim));
    Put(*store, "other", MakeVectorBatch(0, 10, kDim));
  }
  auto segments = *ListWalSegments(wal_dir());
  ASSERT_GT(segments.size(), 2u);
  fs::remove(segments[0].path);
  fs::remove(fs::path(wal_dir()) / kWalLogStartFile);  // as a log written before it
  const std::string message = OpenError();
  EXPECT_NE(message.find("records of dataset 'ds' (LSNs " + std::to_string(segments[1].first_lsn)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("neither the record that created it nor a snapshot"), std::string::npos)
      << message;

  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_TRUE(store->Get("ds").status().IsKeyError());
  EXPECT_EQ(IdsIn(*Contents(*store, "other")), Range(0, 10));
}

// ... while those of a dataset the log drops later are what a checkpoint leaves of it.
TEST_P(WalIntegrityTest, RecordsOfADatasetDroppedLaterAreSkipped) {
  segment_bytes_ = 2000;
  {
    auto store = Open();
    for (int i = 0; i < 10; ++i) Put(*store, "gone", MakeVectorBatch(10 * i, 10, kDim));
    Put(*store, "kept", MakeVectorBatch(0, 10, kDim));
    ASSERT_TRUE(store->Drop("gone").ok());
    SnapshotAll(*store);  // the checkpoint deletes the segments with "gone"'s creation
  }
  ASSERT_GT((*ListWalSegments(wal_dir())).front().first_lsn, 1u);
  auto store = Open();
  EXPECT_TRUE(store->Get("gone").status().IsKeyError());
  EXPECT_EQ(IdsIn(*Contents(*store, "kept")), Range(0, 10));
}

// The WAL directory lost: the snapshots say how far the log reached.
TEST_P(WalIntegrityTest, ALogThatEndsBeforeASnapshotStopsRecovery) {
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    SnapshotAll(*store);
    Put(*store, "other", MakeVectorBatch(0, 10, kDim));
  }
  fs::remove_all(wal_dir());
  const std::string message = OpenError();
  EXPECT_NE(message.find("LSNs 1..2 are missing"), std::string::npos) << message;
  EXPECT_NE(message.find("snapshot of dataset 'ds'"), std::string::npos) << message;
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 10));
  EXPECT_GT(recovered_.next_lsn, 2u);  // LSNs are not given twice
}

// A drop that was lost: the dataset's re-creation replaces the earlier one.
TEST_P(WalIntegrityTest, ACreationAfterALostDropReplacesTheDataset) {
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    ASSERT_TRUE(store->Drop("ds").ok());
    Put(*store, "ds", MakeVectorBatch(100, 5, kDim));
    EXPECT_EQ(DeleteIds(*store, {101}), 1);
  }
  Corrupt(Lsns(WalRecordType::kDropDataset)[0]);
  EXPECT_NE(OpenError().find("payload checksum mismatch"), std::string::npos);
  skip_corrupt_ = true;
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), (std::set<int64_t>{100, 102, 103, 104}));
}

// A put that created a dataset can fail after its creation reached the log (in an earlier
// group than its batch): the server never had the dataset, and the next put creates it again.
TEST_P(WalIntegrityTest, ACreationNeverAcknowledgedIsCreatedAgain) {
  {
    WalOptions options;
    options.dir = wal_dir();
    auto writer = *WalWriter::Open(options, 1);
    auto batch = MakeVectorBatch(0, 10, kDim);
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(*EncodeAppend("ds", *batch, 0)).ok());
  }
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Range(0, 10));
}

// A write that fails takes back the rows it counted: the records after it log the counts that
// replay finds.
TEST_P(WalIntegrityTest, AFailedWriteLeavesRowCountsThatReplayAgreesWith) {
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    auto dataset = *store->Get("ds");
    // A real write error without mocks: a file-size limit makes write() fail with EFBIG.
    testing::FileSizeLimit limit(
        static_cast<int64_t>(fs::file_size((*ListWalSegments(wal_dir())).back().path)));
    auto failed = store->Append(*dataset, MakeVectorBatch(10, 10, kDim));
    limit.Lift();
    ASSERT_TRUE(failed.status().IsIOError()) << failed.status().ToString();
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(20, 10, kDim)).ok());
    EXPECT_EQ(DeleteIds(*store, {25}), 1);
  }
  auto store = Open();  // without --wal-skip-corrupt: nothing is missing
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(Without(Range(0, 30), Range(10, 20)), {25}));
}

// Puts and deletes from several threads while writes keep failing: whatever fails, every
// record that reaches the log carries the row count replay finds.
TEST_P(WalIntegrityTest, RowCountsStayRightWhenWritesFailUnderConcurrentPuts) {
  std::set<int64_t> acked, deleted;
  {
    auto store = Open();
    Put(*store, "ds", MakeVectorBatch(0, 10, kDim));
    auto dataset = *store->Get("ds");
    for (int64_t id = 0; id < 10; ++id) acked.insert(id);
    std::mutex mutex;  // guards acked, deleted
    std::atomic<int64_t> next_id{10};
    std::atomic<int64_t> failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&] {
        while (!stop) {
          const int64_t id = next_id.fetch_add(10);
          if (store->Append(*dataset, MakeVectorBatch(id, 10, kDim)).ok()) {
            std::lock_guard lock(mutex);
            for (int64_t i = id; i < id + 10; ++i) acked.insert(i);
          } else {
            ++failed;
          }
        }
      });
    }
    threads.emplace_back([&] {
      for (int64_t n = 0; !stop; ++n) {
        int64_t id;
        {
          std::lock_guard lock(mutex);
          id = *std::next(acked.begin(), static_cast<int64_t>(n * 7919 % acked.size()));
        }
        auto done = store->Delete(*dataset, *Ids({id}));
        if (done.ok() && *done == 1) {
          std::lock_guard lock(mutex);
          deleted.insert(id);
        }
      }
    });
    // Writes fail (a file-size limit at the log's size) on and off until enough did.
    const bool enough = testing::WaitUntil([&] {
      {
        testing::FileSizeLimit limit(
            static_cast<int64_t>(fs::file_size((*ListWalSegments(wal_dir())).back().path)));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      return failed >= 20;
    });
    stop = true;
    for (auto& thread : threads) thread.join();
    ASSERT_TRUE(enough) << failed << " puts failed";
  }
  auto store = Open();  // without --wal-skip-corrupt: nothing is missing, nothing misplaced
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(acked, deleted));
}

// The upgrade path: a log written before row counts replays (nothing to check them by).
TEST_P(WalIntegrityTest, ALogWithoutRowCountsReplays) {
  {
    WalOptions options;
    options.dir = wal_dir();
    auto writer = *WalWriter::Open(options, 1);
    auto batch = MakeVectorBatch(0, 10, kDim);
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(testing::LegacyPayload(*EncodeAppend("ds", *batch, 0))).ok());
    ASSERT_TRUE(writer
                    ->Append(testing::LegacyPayload(
                        *EncodeAppend("ds", *MakeVectorBatch(10, 10, kDim), 10)))
                    .ok());
    Roaring rows;
    rows.add(3);
    rows.add(12);
    ASSERT_TRUE(writer->Append(testing::LegacyPayload(*EncodeDelete("ds", rows, 20))).ok());
    ASSERT_TRUE(writer->Append(testing::LegacyPayload(*EncodeCompact("ds", rows, 20))).ok());
    Roaring later;
    later.add(15);  // id 17 after the compaction
    ASSERT_TRUE(writer->Append(testing::LegacyPayload(*EncodeDelete("ds", later, 18))).ok());
  }
  {
    auto store = Open();
    EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(Range(0, 20), {3, 12, 17}));
    EXPECT_EQ(DeleteIds(*store, {4}), 1);  // logged with row counts from here on
  }
  auto store = Open();
  EXPECT_EQ(IdsIn(*Contents(*store, "ds")), Without(Range(0, 20), {3, 4, 12, 17}));
}

INSTANTIATE_TEST_SUITE_P(LogFormats, WalIntegrityTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "RowNumbers" : "RowKeys";
                         });

}  // namespace
}  // namespace arbalest
