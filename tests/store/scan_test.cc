#include "store/scan.h"

#include <gtest/gtest.h>

#include "testing/batches.h"
#include "testing/filters.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

std::shared_ptr<arrow::Table> ReadAll(const DatasetSnapshot& snapshot, const ScanOptions& options) {
  auto reader = ScanSnapshot(snapshot, options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return (*reader)->ToTable().ValueOrDie();
}

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dataset_ = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget_);
    for (int b = 0; b < 5; ++b) ASSERT_TRUE(dataset_->Append(MakeVectorBatch(b * 20, 20, 4)).ok());
  }
  MemoryBudget budget_{0};
  std::shared_ptr<Dataset> dataset_;
};

TEST_F(ScanTest, ReturnsEverythingInPutOrder) {
  auto table = ReadAll(dataset_->Snapshot(), {});
  EXPECT_EQ(table->num_rows(), 100);
  EXPECT_TRUE(table->schema()->Equals(*dataset_->schema()));
  auto expected = MakeVectorBatch(0, 100, 4);
  EXPECT_TRUE(table->CombineChunksToBatch().ValueOrDie()->Equals(*expected));
}

TEST_F(ScanTest, FiltersLimitsAndProjects) {
  ScanOptions options;
  options.filter = TestFilter(R"([{"field":"tag","op":"=","value":"tag1"}])");
  options.limit = 10;
  options.columns = std::vector<std::string>{"score", "id"};
  auto table = ReadAll(dataset_->Snapshot(), options);
  ASSERT_EQ(table->num_rows(), 10);
  ASSERT_EQ(table->num_columns(), 2);
  EXPECT_EQ(table->schema()->field(0)->name(), "score");
  int64_t expected_id = 1;
  for (const auto& chunk : table->column(1)->chunks()) {
    const auto& column = static_cast<const arrow::Int64Array&>(*chunk);
    for (int64_t i = 0; i < column.length(); ++i, expected_id += 3) {
      EXPECT_EQ(column.Value(i), expected_id);
    }
  }
}

TEST_F(ScanTest, LimitZeroAndBadOptions) {
  ScanOptions zero;
  zero.limit = 0;
  EXPECT_EQ(ReadAll(dataset_->Snapshot(), zero)->num_rows(), 0);
  ScanOptions negative;
  negative.limit = -1;
  EXPECT_TRUE(ScanSnapshot(dataset_->Snapshot(), negative).status().IsInvalid());
  ScanOptions unknown;
  unknown.columns = std::vector<std::string>{"nope"};
  auto status = ScanSnapshot(dataset_->Snapshot(), unknown).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("'nope'"), std::string::npos);
}

TEST_F(ScanTest, RowSlicesCoverExactlyTheAskedRowsAcrossBatches) {
  const DatasetSnapshot view = dataset_->Snapshot();  // five batches of 20 rows
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 100},
                            {5, 15},
                            {15, 65},
                            {40, 60},
                            {99, 100},
                            {30, 30},
                            {90, 500}}) {
    std::vector<int64_t> ids;
    int64_t next = begin;
    ASSERT_TRUE(
        ForEachRowSlice(
            view, begin, end,
            [&](const std::shared_ptr<arrow::RecordBatch>& slice, int64_t first) -> arrow::Status {
              EXPECT_EQ(first, next);  // in order, no gap, no overlap
              next += slice->num_rows();
              const auto& id = static_cast<const arrow::Int64Array&>(*slice->GetColumnByName("id"));
              for (int64_t i = 0; i < id.length(); ++i) {
                ids.push_back(id.Value(i));
              }
              return arrow::Status::OK();
            })
            .ok());
    const int64_t last = std::min<int64_t>(end, 100);
    ASSERT_EQ(static_cast<int64_t>(ids.size()), last - begin) << begin << ".." << end;
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], begin + static_cast<int64_t>(i));
  }
  int calls = 0;
  auto stopped =
      ForEachRowSlice(view, 0, 100, [&](const std::shared_ptr<arrow::RecordBatch>&, int64_t) {
        return ++calls == 2 ? arrow::Status::Cancelled("stop") : arrow::Status::OK();
      });
  EXPECT_TRUE(stopped.IsCancelled());
  EXPECT_EQ(calls, 2);
}

TEST_F(ScanTest, OlderBatchesReadNullForEvolvedColumns) {
  auto batch = MakeVectorBatch(100, 3, 4);
  arrow::Int32Builder extra;
  ASSERT_TRUE(extra.AppendValues({7, 8, 9}).ok());
  ASSERT_TRUE(
      dataset_->Append(*batch->AddColumn(4, arrow::field("extra", arrow::int32()), *extra.Finish()))
          .ok());
  ScanOptions options;
  options.filter = TestFilter(R"([{"field":"extra","op":"=","value":null}])");
  EXPECT_EQ(ReadAll(dataset_->Snapshot(), options)->num_rows(), 100);
  options.filter = TestFilter(R"([{"field":"extra","op":">","value":7}])");
  EXPECT_EQ(ReadAll(dataset_->Snapshot(), options)->num_rows(), 2);
}

}  // namespace
}  // namespace arbalest
