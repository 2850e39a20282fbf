// Database::Open: a data directory opened, written, closed and opened again, with its threads
// (index workers, snapshot thread, compactor) running after Open.
#include "store/database.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "testing/batches.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

class DatabaseTest : public ::testing::Test {
 protected:
  DatabaseOptions Options() const {
    DatabaseOptions options;
    options.recovery.wal_dir = dir_ / "wal";
    options.recovery.snapshot_dir = dir_ / "snapshots";
    options.compaction.deleted_fraction = 0.1;
    options.compaction.min_deleted_rows = 1;
    return options;
  }

  std::unique_ptr<Database> Open() {
    auto database = Database::Open(Options(), std::make_shared<VectorStore>(0));
    EXPECT_TRUE(database.ok()) << database.status().ToString();
    return database.ok() ? std::move(*database) : nullptr;
  }

  testing::TempDir dir_{"arbalest_database_test"};
};

TEST_F(DatabaseTest, OpensRecoversAndRunsItsThreads) {
  {
    auto database = Open();
    ASSERT_TRUE(database);
    VectorStore& store = database->store();
    ASSERT_NE(store.wal(), nullptr);
    ASSERT_NE(store.snapshotter(), nullptr);
    std::shared_ptr<Dataset> dataset;
    ASSERT_TRUE(store.Put("ds", MakeVectorBatch(0, 50, 8), &dataset).ok());
    // The index workers index it, the compactor compacts it after a delete.
    EXPECT_TRUE(testing::WaitUntil([&] { return dataset->Snapshot().indexed_rows == 50; }));
    arrow::Int64Builder ids;
    ASSERT_TRUE(ids.AppendValues({1, 2, 3, 4, 5, 6}).ok());
    ASSERT_EQ(*store.Delete(*dataset, *ids.Finish().ValueOrDie()), 6);
    EXPECT_TRUE(testing::WaitUntil([&] { return dataset->compaction_totals().compactions == 1; }));
    database->Close(std::chrono::steady_clock::now() + std::chrono::seconds(60));
    // Close snapshotted what changed.
    EXPECT_EQ(dataset->saved_snapshot().lsn, dataset->last_lsn());
  }
  auto reopened = Open();
  ASSERT_TRUE(reopened);
  auto dataset = reopened->store().Get("ds");
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ((*dataset)->Snapshot().live_rows(), 44);
  EXPECT_EQ(reopened->recovered().snapshots, 1);
  // The log goes on after the recovered records.
  auto ack = reopened->store().Append(**dataset, MakeVectorBatch(100, 5, 8));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_GT(ack->seq, reopened->recovered().log.last_lsn);
  EXPECT_EQ((*dataset)->Snapshot().live_rows(), 49);
  reopened->Close(std::chrono::steady_clock::now() + std::chrono::seconds(60));
}

}  // namespace
}  // namespace arbalest
