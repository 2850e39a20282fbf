#include "store/dataset.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

TEST(DatasetTest, AppendsAndSnapshots) {
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  EXPECT_EQ(dataset->Snapshot().num_rows, 0);
  ASSERT_EQ(*dataset->Append(MakeVectorBatch(0, 10, 4)), 10);
  ASSERT_EQ(*dataset->Append(MakeVectorBatch(10, 5, 4)), 5);
  const DatasetSnapshot snapshot = dataset->Snapshot();
  EXPECT_EQ(snapshot.num_rows, 15);
  ASSERT_EQ(snapshot.batches.size(), 2u);
  EXPECT_TRUE(snapshot.batches[1]->Equals(*MakeVectorBatch(10, 5, 4)));
  EXPECT_GT(snapshot.num_bytes, 15 * 4 * 4);
  EXPECT_EQ(budget.used(), snapshot.num_bytes);
}

TEST(DatasetTest, RejectedBatchStoresNothing) {
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 3, 4)).ok());
  EXPECT_TRUE(dataset->Append(MakeVectorBatch(3, 3, 5)).status().IsInvalid());
  EXPECT_EQ(dataset->Snapshot().num_rows, 3);
  EXPECT_EQ(dataset->Snapshot().batches.size(), 1u);
}

TEST(DatasetTest, ReleasesBudgetWhenDestroyed) {
  MemoryBudget budget(0);
  {
    auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
    ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 100, 4)).ok());
    EXPECT_GT(budget.used(), 0);
  }
  EXPECT_EQ(budget.used(), 0);
}

TEST(DatasetTest, MemoryLimitRefusesWithoutStoring) {
  MemoryBudget budget(10'000);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 10, 4)).ok());
  auto refused = dataset->Append(MakeVectorBatch(10, 1000, 4));
  EXPECT_TRUE(refused.status().IsCapacityError()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("--max-memory"), std::string::npos);
  EXPECT_EQ(dataset->Snapshot().num_rows, 10);
}

TEST(DatasetTest, DroppedDatasetRefusesAppends) {
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  dataset->MarkDropped();
  EXPECT_TRUE(dataset->Append(MakeVectorBatch(0, 1, 4)).status().IsKeyError());
  EXPECT_EQ(budget.used(), 0);
}

TEST(DatasetTest, ConcurrentWritersAndReadersSeeWholeBatches) {
  constexpr int kWriters = 4;
  constexpr int kBatchesPerWriter = 50;
  constexpr int64_t kRows = 37;
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  std::atomic<bool> done{false};
  std::atomic<int> torn_reads{0};
  std::thread reader([&] {
    while (!done) {
      const DatasetSnapshot snapshot = dataset->Snapshot();
      int64_t rows = 0;
      for (const auto& batch : snapshot.batches) rows += batch->num_rows();
      if (rows != snapshot.num_rows || rows % kRows != 0) ++torn_reads;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int b = 0; b < kBatchesPerWriter; ++b) {
        const int64_t first = (w * kBatchesPerWriter + b) * kRows;
        ASSERT_TRUE(dataset->Append(MakeVectorBatch(first, kRows, 4)).ok());
      }
    });
  }
  for (auto& writer : writers) writer.join();
  done = true;
  reader.join();
  EXPECT_EQ(torn_reads, 0);
  std::set<int64_t> ids;
  for (const auto& batch : dataset->Snapshot().batches) {
    const auto& column = static_cast<const arrow::Int64Array&>(*batch->column(0));
    for (int64_t i = 0; i < column.length(); ++i) EXPECT_TRUE(ids.insert(column.Value(i)).second);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kWriters * kBatchesPerWriter * kRows));
}

}  // namespace
}  // namespace arbalest
