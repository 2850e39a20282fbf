// A store logging to a real WAL directory, rebuilt by replay.
#include "store/recovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/id_lookup.h"
#include "store/scan.h"
#include "testing/batches.h"
#include "testing/filters.h"

namespace arbalest {
namespace {

namespace fs = std::filesystem;
using testing::MakeVectorBatch;

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("arbalest_recovery_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RecoveryOptions LogOnly(bool skip_corrupt = false) const {
    return RecoveryOptions{dir_.string(), "", WalReadOptions{skip_corrupt}};
  }

  // A store recovered from the log, with a writer attached that continues it.
  std::unique_ptr<VectorStore> OpenStore(RecoveryResult* recovered = nullptr) {
    auto store = std::make_unique<VectorStore>(0);
    auto result = Recover(*store, LogOnly());
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    WalOptions options;
    options.dir = dir_.string();
    store->AttachWal(WalWriter::Open(options, result->next_lsn).ValueOrDie());
    if (recovered) *recovered = *result;
    return store;
  }

  fs::path dir_;
};

std::shared_ptr<arrow::Table> Contents(const VectorStore& store, const std::string& name) {
  auto snapshot = store.Get(name).ValueOrDie()->Snapshot();
  return arrow::Table::FromRecordBatches(snapshot.schema, snapshot.batches).ValueOrDie();
}

TEST_F(RecoveryTest, ReplayRebuildsEveryDataset) {
  std::shared_ptr<arrow::Table> before;
  uint64_t last_seq = 0;
  {
    auto store = OpenStore();
    std::shared_ptr<Dataset> dataset;
    ASSERT_TRUE(store->Put("ds", MakeVectorBatch(0, 10, 8), &dataset).ok());
    auto ack = store->Append(*dataset, MakeVectorBatch(10, 5, 8));
    ASSERT_TRUE(ack.ok());
    last_seq = ack->seq;
    ASSERT_TRUE(store->GetOrCreate("empty", *MakeVectorBatch(0, 1, 4)->schema()).ok());
    std::shared_ptr<Dataset> doomed;
    ASSERT_TRUE(store->Put("doomed", MakeVectorBatch(0, 3, 4), &doomed).ok());
    ASSERT_TRUE(store->Drop("doomed").ok());
    EXPECT_TRUE(store->Append(*doomed, MakeVectorBatch(3, 3, 4)).status().IsKeyError());
    before = Contents(*store, "ds");
  }
  RecoveryResult recovered;
  auto store = OpenStore(&recovered);
  EXPECT_EQ(recovered.rows, 18);
  ASSERT_EQ(store->List().size(), 2u);
  EXPECT_TRUE(Contents(*store, "ds")->Equals(*before));
  EXPECT_EQ(store->Get("empty").ValueOrDie()->Snapshot().num_rows, 0);
  EXPECT_TRUE(store->Get("doomed").status().IsKeyError());
  // The log continues where it stopped.
  std::shared_ptr<Dataset> dataset = store->Get("ds").ValueOrDie();
  auto ack = store->Append(*dataset, MakeVectorBatch(15, 1, 8));
  ASSERT_TRUE(ack.ok());
  EXPECT_GT(ack->seq, last_seq);
}

TEST_F(RecoveryTest, AssignedIdsAndEvolvedSchemasSurvive) {
  auto put_schema =
      arrow::schema({arrow::field("vector", arrow::fixed_size_list(arrow::float64(), 2))});
  auto batch = arrow::RecordBatch::Make(put_schema, 3,
                                        {testing::ConstantVectors(arrow::float64(), 3, 2, 0.5)});
  arrow::Int32Builder extra;
  ASSERT_TRUE(extra.AppendValues({1, 2, 3}).ok());
  auto evolved = *batch->AddColumn(1, arrow::field("extra", arrow::int32()), *extra.Finish());
  {
    auto store = OpenStore();
    std::shared_ptr<Dataset> dataset;
    ASSERT_TRUE(store->Put("auto", batch, &dataset).ok());
    ASSERT_TRUE(store->Append(*dataset, evolved).ok());
  }
  auto store = OpenStore();
  auto dataset = store->Get("auto").ValueOrDie();
  EXPECT_EQ(dataset->layout().id_kind, IdKind::kAssigned);
  EXPECT_EQ(dataset->schema()->num_fields(), 3);
  std::shared_ptr<Dataset> same;
  EXPECT_TRUE(store->Put("auto", batch, &same).status().IsInvalid());  // lacks 'extra' now
  ASSERT_TRUE(store->Put("auto", evolved, &same).ok());
  auto snapshot = dataset->Snapshot();
  ASSERT_EQ(snapshot.batches.size(), 3u);
  const auto& ids = static_cast<const arrow::UInt64Array&>(*snapshot.batches[2]->column(0));
  EXPECT_EQ(ids.Value(0), 6u);  // numbering continues after the 6 replayed rows
}

TEST_F(RecoveryTest, RecordThatDoesNotApplyStopsRecoveryUnlessSkipped) {
  {
    WalOptions options;
    options.dir = dir_.string();
    auto writer = WalWriter::Open(options, 1).ValueOrDie();
    // An append to a dataset that was never created.
    ASSERT_TRUE(writer->Append(*EncodeAppend("ghost", *MakeVectorBatch(0, 2, 4), 0)).ok());
    ASSERT_TRUE(
        writer->Append(*EncodeCreateDataset("real", MakeVectorBatch(0, 1, 4)->schema())).ok());
  }
  VectorStore strict(0);
  auto failed = Recover(strict, LogOnly());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("'ghost'"), std::string::npos);
  EXPECT_NE(failed.status().message().find("--wal-skip-corrupt"), std::string::npos);
  VectorStore lenient(0);
  auto skipped = Recover(lenient, LogOnly(/*skip_corrupt=*/true));
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->log.skipped_corrupt, 1u);
  EXPECT_TRUE(lenient.Get("real").ok());
}

TEST_F(RecoveryTest, ReplayRestoresDeletes) {
  const auto delete_ids = [](VectorStore& store, const char* ids) {
    auto dataset = store.Get("ds").ValueOrDie();
    auto array = IdsToArray(TestIds(ids), /*single=*/false, *dataset, "ids").ValueOrDie();
    return store.Delete(*dataset, *array).ValueOrDie();
  };
  {
    auto store = OpenStore();
    std::shared_ptr<Dataset> dataset;
    ASSERT_TRUE(store->Put("ds", MakeVectorBatch(0, 10, 4), &dataset).ok());
    EXPECT_EQ(delete_ids(*store, "[2, 3, 77]"), 2);
    ASSERT_TRUE(store->Append(*dataset, MakeVectorBatch(2, 5, 4)).ok());  // ids 2..6 again
    EXPECT_EQ(delete_ids(*store, "[3, 4]"), 3);                           // the new 3, both 4s
  }
  RecoveryResult recovered;
  auto store = OpenStore(&recovered);
  EXPECT_EQ(recovered.rows, 15);
  EXPECT_EQ(recovered.deleted_rows, 5);
  auto snapshot = store->Get("ds").ValueOrDie()->Snapshot();
  EXPECT_EQ(snapshot.live_rows(), 10);
  auto table = (*ScanSnapshot(snapshot, {}))->ToTable().ValueOrDie();
  std::vector<int64_t> kept;
  for (const auto& chunk : table->GetColumnByName("id")->chunks()) {
    const auto& values = static_cast<const arrow::Int64Array&>(*chunk);
    for (int64_t i = 0; i < values.length(); ++i) kept.push_back(values.Value(i));
  }
  EXPECT_EQ(kept, (std::vector<int64_t>{0, 1, 5, 6, 7, 8, 9, 2, 5, 6}));
  // Deletes after recovery continue the log, and count what is left.
  EXPECT_EQ(delete_ids(*store, "[2, 3]"), 1);
}

TEST_F(RecoveryTest, DeleteOfARowTheDatasetDoesNotHaveIsRefused) {
  {
    WalOptions options;
    options.dir = dir_.string();
    auto writer = WalWriter::Open(options, 1).ValueOrDie();
    auto batch = MakeVectorBatch(0, 4, 4);
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(*EncodeAppend("ds", *batch, 0)).ok());
    Roaring rows;
    rows.add(4);
    ASSERT_TRUE(writer->Append(*EncodeDelete("ds", rows, 4)).ok());
  }
  VectorStore store(0);
  auto failed = Recover(store, LogOnly());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("WAL record 3 deletes row 4 of dataset 'ds'"),
            std::string::npos)
      << failed.status().message();
}

// Found by fuzz_wal: replay read a logged batch by column position, so a (checksummed) append
// of a batch without the dataset's columns read a float column as the text column.
TEST_F(RecoveryTest, AppendThatDoesNotFitTheDatasetIsRefused) {
  {
    WalOptions options;
    options.dir = dir_.string();
    auto writer = WalWriter::Open(options, 1).ValueOrDie();
    auto batch = MakeVectorBatch(0, 4, 4);
    ASSERT_TRUE(writer->Append(*EncodeCreateDataset("ds", batch->schema())).ok());
    ASSERT_TRUE(writer->Append(*EncodeAppend("ds", *testing::WithoutIds(batch), 0)).ok());
  }
  VectorStore store(0);
  auto failed = Recover(store, LogOnly());
  ASSERT_TRUE(failed.status().IsInvalid()) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("WAL record 2 appends a batch of schema"),
            std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace arbalest
