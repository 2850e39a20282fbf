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
  // The rows, and the fixed cost and index memory charged ahead of indexing.
  EXPECT_GT(dataset->index_memory(), Dataset::kFixedBytes);
  EXPECT_EQ(budget.used(), snapshot.num_bytes + dataset->index_memory());
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
  MemoryBudget budget(2 << 20);  // the dataset, 10 rows and the first chunks of their index
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 10, 4)).ok());
  auto refused = dataset->Append(MakeVectorBatch(10, 100'000, 4));
  EXPECT_TRUE(refused.status().IsCapacityError()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("--max-memory"), std::string::npos);
  EXPECT_EQ(dataset->Snapshot().num_rows, 10);
}

// Creating a dataset charges its fixed cost (the objects and the index's link locks), so that
// empty datasets cannot pile up past --max-memory; a refused creation charges nothing.
TEST(DatasetTest, CreationIsChargedAndRefusedPastTheLimit) {
  const auto schema = MakeVectorBatch(0, 1, 4)->schema();
  MemoryBudget unlimited(0);
  auto dataset = *Dataset::Create("ds", *schema, &unlimited);
  const int64_t fixed = unlimited.used();
  EXPECT_GT(fixed, Dataset::kFixedBytes);
  EXPECT_EQ(dataset->index_memory(), fixed);
  EXPECT_LT(fixed, 1 << 20);  // no chunk of rows before the first row

  MemoryBudget budget(fixed * 2 - 1);
  auto first = Dataset::Create("first", *schema, &budget);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Dataset::Create("second", *schema, &budget);
  ASSERT_TRUE(second.status().IsCapacityError()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("creating dataset 'second'"), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("--max-memory"), std::string::npos);
  EXPECT_EQ(budget.used(), fixed);
  // Replayed at startup, a dataset is counted but never refused.
  auto replayed = Dataset::Create("replayed", *schema, &budget, {}, ChargeMode::kAlways);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(budget.used(), 2 * fixed);
  first->reset();
  replayed->reset();
  EXPECT_EQ(budget.used(), 0);
}

// A put charges the index memory its rows will need (whole chunks of the graph's arenas) with
// its batch, before the index allocates it: two rows of 100,000 dimensions are charged tens of
// megabytes, and indexing them allocates no more than that.
TEST(DatasetTest, PutsChargeTheIndexMemoryOfTheirRowsAhead) {
  constexpr int kWide = 100'000;
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("wide", *MakeVectorBatch(0, 1, kWide)->schema(), &budget);
  const int64_t before = budget.used();
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 2, kWide)).ok());
  const int64_t batch_bytes = dataset->Snapshot().num_bytes;
  const int64_t index_bytes = budget.used() - before - batch_bytes;
  EXPECT_GE(index_bytes, 2 * kWide * 6);  // the graph's copy and its float16 copy
  EXPECT_LT(index_bytes, 64 << 20);       // a chunk of a few rows, not of 4096
  ASSERT_EQ(*dataset->CatchUpIndex(
                100, 1, [] { return false; }, /*share_vectors=*/false),
            2);
  const MemoryUsage graph = dataset->Snapshot().segments.front().graph->memory();
  EXPECT_LE(static_cast<int64_t>(graph.vector_bytes + graph.graph_bytes), index_bytes);
  // What indexing allocated was already charged: the total does not move, but for the
  // upper-level lists of rows drawn above level 0 (random, a few dozen bytes each) and the
  // insert state the graph pools (charged after the fact).
  EXPECT_GE(budget.used(), before + batch_bytes + index_bytes);
  EXPECT_LE(budget.used(),
            before + batch_bytes + index_bytes + static_cast<int64_t>(graph.scratch_bytes) + 1024);

  // Past the limit, the index memory counts: a batch that fits alone is refused with it.
  MemoryBudget tight(before + batch_bytes + index_bytes / 2);
  auto tight_dataset = *Dataset::Create("wide", *MakeVectorBatch(0, 1, kWide)->schema(), &tight);
  auto refused = tight_dataset->Append(MakeVectorBatch(0, 2, kWide));
  ASSERT_TRUE(refused.status().IsCapacityError()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("bytes of index"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(tight.used(), before);
}

// A graph whose int8 build codes gave way to float16 copies (HnswIndex's int8 fallback) holds 2
// bytes per dimension a row for them, not 1: the rows put after the fallback are charged ahead
// at that rate (they were charged as int8 codes, dim bytes per row short of what indexing them
// then allocated).
TEST(DatasetTest, PutsAfterTheInt8FallbackAreChargedForFloat16Copies) {
  constexpr int kDim = 64;  // int8 codes of 64 bytes a row, float16 copies of 128
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("line", *MakeVectorBatch(0, 1, kDim)->schema(), &budget);
  // MakeVectorBatch's rows lie on one line: int8 codes merge neighbours, float16 copies do not.
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(0, 1000, kDim)).ok());
  ASSERT_EQ(*dataset->CatchUpIndex(
                1000, 1, [] { return false; }, /*share_vectors=*/false),
            1000);
  const DatasetSnapshot before = dataset->Snapshot();
  const std::shared_ptr<const HnswIndex> graph = before.segments.front().graph;
  ASSERT_TRUE(graph->int8_fell_back());
  const HnswIndex::MemoryModel model = graph->memory_model();
  EXPECT_EQ(model.build_copy_bytes_per_row, 2 * kDim);
  EXPECT_EQ(graph->fallback_memory_model().BytesFor(6000), model.BytesFor(6000));

  const int64_t used = budget.used();
  ASSERT_TRUE(dataset->Append(MakeVectorBatch(1000, 5000, kDim)).ok());  // a new 4096-row chunk
  const int64_t batch_bytes = dataset->Snapshot().num_bytes - before.num_bytes;
  EXPECT_EQ(budget.used() - used - batch_bytes, model.BytesFor(6000) - model.BytesFor(1000));
  // Indexing them allocates no more than what was charged (but the pooled insert state).
  ASSERT_EQ(*dataset->CatchUpIndex(
                5000, 1, [] { return false; }, /*share_vectors=*/false),
            5000);
  const MemoryUsage memory = graph->memory();
  EXPECT_LE(static_cast<int64_t>(memory.vector_bytes + memory.graph_bytes),
            dataset->index_memory());
}

// The fallback happens in the middle of an indexing turn: a put made after it, while the turn
// goes on, is charged at the float16 rate already, and the rows charged before it are charged
// up to that rate with it (before, only the turn's end noticed the fallback).
TEST(DatasetTest, APutDuringTheTurnThatFallsBackIsChargedForFloat16Copies) {
  constexpr int kDim = 64;
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("line", *MakeVectorBatch(0, 1, kDim)->schema(), &budget);
  for (int64_t first = 0; first < 2000; first += 250) {  // batches: one slice each
    ASSERT_TRUE(dataset->Append(MakeVectorBatch(first, 250, kDim)).ok());
  }
  const std::shared_ptr<const HnswIndex> graph = dataset->Snapshot().segments.front().graph;
  const HnswIndex::MemoryModel int8_model = graph->memory_model();
  const HnswIndex::MemoryModel fallback = graph->fallback_memory_model();
  ASSERT_LT(int8_model.BytesFor(7000), fallback.BytesFor(7000));
  int64_t charged = -1;  // the put's index bytes, charged while the turn went on
  int64_t put_rows_indexed = -1;
  auto added = dataset->CatchUpIndex(
      2000, 1,
      [&] {
        if (charged < 0 && graph->int8_fell_back()) {
          const int64_t used = budget.used();
          const int64_t bytes_before = dataset->Snapshot().num_bytes;
          EXPECT_TRUE(dataset->Append(MakeVectorBatch(2000, 5000, kDim)).ok());
          charged = budget.used() - used - (dataset->Snapshot().num_bytes - bytes_before);
          put_rows_indexed = graph->size();
        }
        return false;
      },
      /*share_vectors=*/false);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_GE(charged, 0) << "the graph did not fall back in the middle of the turn";
  ASSERT_LT(put_rows_indexed, 2000);  // the turn was not over
  EXPECT_EQ(charged, fallback.BytesFor(7000) - int8_model.BytesFor(2000));
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
