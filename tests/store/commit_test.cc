// Dataset::Commit's contract, against a real write-ahead log: changes committed from many
// threads are published in log order (every snapshot is a cut of the log: exactly the changes
// up to its LSN, rows numbered in log order), a delete takes its turn among the appends, a
// change the log fails to write leaves nothing behind (its memory, its turn and its row count
// given back), and the log replays to what was published.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "store/dataset.h"
#include "store/recovery.h"
#include "store/vector_store.h"
#include "testing/batches.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

constexpr int32_t kDim = 8;

// The int64 ids of `view`'s rows in row order, deleted rows left out unless `with_deleted`.
std::vector<int64_t> IdsOf(const DatasetSnapshot& view, bool with_deleted = false) {
  std::vector<int64_t> ids;
  uint32_t row = 0;
  for (const auto& batch : view.batches) {
    const auto& values = static_cast<const arrow::Int64Array&>(*batch->column(0));
    for (int64_t i = 0; i < values.length(); ++i, ++row) {
      if (with_deleted || !view.IsDeleted(row)) ids.push_back(values.Value(i));
    }
  }
  return ids;
}

// What a reader saw in one Snapshot: its LSN, the first id of each batch in row order, and the
// ids of its deleted rows.
struct Cut {
  uint64_t lsn = 0;
  std::vector<int64_t> batch_first_ids;
  std::set<int64_t> deleted_ids;
};

Cut CutOf(const DatasetSnapshot& view) {
  Cut cut;
  cut.lsn = view.lsn;
  const std::vector<int64_t> ids = IdsOf(view, /*with_deleted=*/true);
  int64_t row = 0;
  for (const auto& batch : view.batches) {
    cut.batch_first_ids.push_back(ids[row]);
    row += batch->num_rows();
  }
  for (const uint32_t deleted : view.DeletedRows()) cut.deleted_ids.insert(ids[deleted]);
  return cut;
}

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WalOptions options;
    options.dir = dir_ / "wal";
    auto wal = WalWriter::Open(options, 1);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    wal_ = std::move(*wal);
    auto dataset = Dataset::Create("ds", *MakeVectorBatch(0, 1, kDim)->schema(), &budget_);
    ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
    dataset_ = std::move(*dataset);
    ASSERT_TRUE(dataset_->LogCreation(log()).ok());
  }

  CommitLog log() const { return CommitLog(wal_.get()); }

  arrow::Result<Committed> Append(int64_t first_id, int64_t rows) {
    return dataset_->Commit(AppendMutation{MakeVectorBatch(first_id, rows, kDim)}, log());
  }

  arrow::Result<Committed> Delete(int64_t id) {
    arrow::Int64Builder builder;
    ARROW_RETURN_NOT_OK(builder.Append(id));
    ARROW_ASSIGN_OR_RAISE(auto ids, builder.Finish());
    return dataset_->Commit(DeleteMutation{*ids}, log());
  }

  // The live ids, in row order, of the dataset as a restart rebuilds it from the log alone
  // (which checks that each record numbers its rows as replay does). Closes the log.
  std::vector<int64_t> Replayed() {
    wal_.reset();
    VectorStore store(0);
    auto recovered = Recover(store, {dir_ / "wal", "", WalReadOptions{}});
    EXPECT_TRUE(recovered.ok()) << recovered.status().ToString();
    auto dataset = store.Get("ds");
    EXPECT_TRUE(dataset.ok()) << dataset.status().ToString();
    return dataset.ok() ? IdsOf((*dataset)->Snapshot()) : std::vector<int64_t>{};
  }

  // Snapshots the dataset until `done`, keeping every cut it sees (at most `max_cuts`).
  std::thread Reader(std::atomic<bool>& done, std::vector<Cut>& cuts, size_t max_cuts = 4000) {
    return std::thread([this, &done, &cuts, max_cuts] {
      do {
        cuts.push_back(CutOf(dataset_->Snapshot()));
      } while (!done.load() && cuts.size() < max_cuts);
    });
  }

  testing::TempDir dir_{"arbalest_commit_test"};
  MemoryBudget budget_{0};
  std::unique_ptr<WalWriter> wal_;
  std::shared_ptr<Dataset> dataset_;
};

// Each cut holds exactly the appends (by first id) and deletes (by id) logged up to its LSN,
// the batches in log order.
void ExpectCutsFollowTheLog(const std::vector<Cut>& cuts,
                            const std::map<uint64_t, int64_t>& appends_by_lsn,
                            const std::map<uint64_t, int64_t>& deletes_by_lsn) {
  ASSERT_FALSE(cuts.empty());
  for (const Cut& cut : cuts) {
    std::vector<int64_t> batches;
    for (auto it = appends_by_lsn.begin(); it != appends_by_lsn.upper_bound(cut.lsn); ++it) {
      batches.push_back(it->second);
    }
    std::set<int64_t> deleted;
    for (auto it = deletes_by_lsn.begin(); it != deletes_by_lsn.upper_bound(cut.lsn); ++it) {
      deleted.insert(it->second);
    }
    ASSERT_EQ(cut.batch_first_ids, batches) << "the snapshot at LSN " << cut.lsn
                                            << " does not hold the appends logged up to it, "
                                               "in log order";
    ASSERT_EQ(cut.deleted_ids, deleted)
        << "the snapshot at LSN " << cut.lsn << " does not hold the deletes logged up to it";
  }
}

TEST_F(CommitTest, ConcurrentAppendsArePublishedInLogOrder) {
  constexpr int kThreads = 8;
  constexpr int kBatches = 30;
  constexpr int64_t kRows = 4;
  std::mutex mutex;
  std::map<uint64_t, int64_t> appends_by_lsn;  // the first id of each append, by LSN
  std::atomic<bool> done{false};
  std::vector<Cut> cuts;
  std::thread reader = Reader(done, cuts);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const int64_t first_id = (t * kBatches + b) * kRows;
        auto committed = Append(first_id, kRows);
        ASSERT_TRUE(committed.ok()) << committed.status().ToString();
        ASSERT_EQ(committed->rows, kRows);
        std::lock_guard lock(mutex);
        ASSERT_TRUE(appends_by_lsn.emplace(committed->lsn, first_id).second);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  done = true;
  reader.join();
  ASSERT_EQ(appends_by_lsn.size(), size_t{kThreads * kBatches});
  cuts.push_back(CutOf(dataset_->Snapshot()));
  EXPECT_EQ(cuts.back().lsn, appends_by_lsn.rbegin()->first);
  ExpectCutsFollowTheLog(cuts, appends_by_lsn, {});
  const std::vector<int64_t> published = IdsOf(dataset_->Snapshot());
  EXPECT_EQ(Replayed(), published);
}

TEST_F(CommitTest, DeletesRacingAppendsTakeTheirTurn) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 30;
  constexpr int64_t kRows = 4;
  std::mutex mutex;
  std::map<uint64_t, int64_t> appends_by_lsn, deletes_by_lsn;
  std::vector<int64_t> acked;  // ids of committed appends, not deleted yet
  std::atomic<int> writing{kThreads};
  std::atomic<bool> done{false};
  std::vector<Cut> cuts;
  std::thread reader = Reader(done, cuts);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const int64_t first_id = (t * kBatches + b) * kRows;
        auto committed = Append(first_id, kRows);
        if (!committed.ok()) {
          ADD_FAILURE() << committed.status().ToString();
          break;
        }
        std::lock_guard lock(mutex);
        appends_by_lsn.emplace(committed->lsn, first_id);
        for (int64_t id = first_id; id < first_id + kRows; ++id) acked.push_back(id);
      }
      writing.fetch_sub(1);
    });
  }
  threads.emplace_back([&] {
    std::mt19937 random(7);
    while (writing.load() > 0) {
      int64_t id = -1;
      {
        std::lock_guard lock(mutex);
        if (acked.empty()) continue;
        const size_t pick = random() % acked.size();
        id = acked[pick];
        acked.erase(acked.begin() + static_cast<ptrdiff_t>(pick));
      }
      auto committed = Delete(id);
      ASSERT_TRUE(committed.ok()) << committed.status().ToString();
      ASSERT_EQ(committed->rows, 1) << "id " << id;
      std::lock_guard lock(mutex);
      deletes_by_lsn.emplace(committed->lsn, id);
    }
  });
  for (auto& thread : threads) thread.join();
  done = true;
  reader.join();
  ASSERT_FALSE(deletes_by_lsn.empty());
  cuts.push_back(CutOf(dataset_->Snapshot()));
  ExpectCutsFollowTheLog(cuts, appends_by_lsn, deletes_by_lsn);
  const std::vector<int64_t> published = IdsOf(dataset_->Snapshot());
  EXPECT_EQ(published.size(), size_t{kThreads * kBatches * kRows} - deletes_by_lsn.size());
  EXPECT_EQ(Replayed(), published);
}

// The size of the log's current segment: the newest file of its directory.
int64_t NewestFileSize(const std::filesystem::path& dir) {
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (newest.empty() || entry.last_write_time() > std::filesystem::last_write_time(newest)) {
      newest = entry.path();
    }
  }
  return static_cast<int64_t>(std::filesystem::file_size(newest));
}

using testing::FileSizeLimit;

TEST_F(CommitTest, AFailedLogLeavesNothingBehind) {
  ASSERT_TRUE(Append(0, 10).ok());
  const int64_t used = budget_.used();
  const DatasetSnapshot before = dataset_->Snapshot();
  {
    FileSizeLimit full(NewestFileSize(dir_ / "wal") + 64);
    auto failed = Append(100, 1000);
    ASSERT_FALSE(failed.ok());
    EXPECT_TRUE(failed.status().IsIOError()) << failed.status().ToString();
  }
  // Its memory given back, nothing published.
  EXPECT_EQ(budget_.used(), used);
  EXPECT_EQ(dataset_->num_rows(), 10);
  EXPECT_EQ(dataset_->last_lsn(), before.lsn);
  // Its turn given back: the next change publishes (rather than wait for it forever), and its
  // record numbers its rows after the rows published, not after the failed ones.
  auto next = std::async(std::launch::async, [&] { return Append(200, 5); });
  ASSERT_EQ(next.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "the change after a failed one was never published";
  auto committed = next.get();
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  auto deleted = Delete(3);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->rows, 1);
  std::vector<int64_t> expected = {0, 1, 2, 4, 5, 6, 7, 8, 9, 200, 201, 202, 203, 204};
  EXPECT_EQ(IdsOf(dataset_->Snapshot()), expected);
  EXPECT_EQ(Replayed(), expected);
}

// A drop waits for the log without the mutex that orders the dataset's records: the log, to
// fail a group, runs the failed appends' take-backs first (WalWriter::Enqueue's on_failure),
// which need that mutex, and only then answers the drop queued behind them.
TEST_F(CommitTest, ADropQueuedBehindFailingAppendsIsAnswered) {
  ASSERT_TRUE(Append(0, 10).ok());
  FileSizeLimit full(NewestFileSize(dir_ / "wal"));  // not a byte more
  std::atomic<bool> stop{false};
  std::vector<std::thread> appenders;
  for (int t = 0; t < 3; ++t) {
    appenders.emplace_back([&, t] {
      for (int64_t id = 1000 * (t + 1); !stop.load(); id += 100) {
        auto failed = Append(id, 100);  // every write fails past the limit
        if (failed.ok()) ADD_FAILURE() << "an append was written past the file size limit";
      }
    });
  }
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto drop = std::async(std::launch::async, [&] { return dataset_->Drop(log()); });
    if (drop.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "a drop queued behind failing appends was never answered (deadlock)";
      std::quick_exit(1);  // the deadlocked threads cannot be joined
    }
    const arrow::Status dropped = drop.get();
    EXPECT_TRUE(dropped.IsIOError()) << dropped.ToString();
  }
  stop = true;
  for (auto& appender : appenders) appender.join();
  EXPECT_FALSE(dataset_->dropped());
  EXPECT_EQ(dataset_->num_rows(), 10);
}

TEST_F(CommitTest, ADeleteOfNoLiveRowLogsNothing) {
  ASSERT_TRUE(Append(0, 3).ok());
  const uint64_t next_lsn = wal_->next_lsn();
  auto deleted = Delete(42);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->rows, 0);
  EXPECT_EQ(wal_->next_lsn(), next_lsn);
}

TEST_F(CommitTest, ChangesAfterADropAreRefused) {
  ASSERT_TRUE(Append(0, 3).ok());
  ASSERT_TRUE(dataset_->Drop(log()).ok());
  EXPECT_TRUE(dataset_->Drop(log()).IsKeyError());
  EXPECT_TRUE(Append(10, 3).status().IsKeyError());
  EXPECT_TRUE(Delete(1).status().IsKeyError());
}

}  // namespace
}  // namespace arbalest
