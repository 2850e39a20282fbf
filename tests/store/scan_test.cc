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
