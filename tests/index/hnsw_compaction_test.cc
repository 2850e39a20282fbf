// HnswCompaction: recall over the survivors against a flat index of the survivors, memory,
// renumbering, the entry point, dropping nothing or everything, SQ8, and growing and saving the
// compacted index.
#include "index/hnsw_compaction.h"

#include <gtest/gtest.h>
#include <time.h>

#include <filesystem>
#include <memory>

#include "clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"

namespace arbalest {
namespace {

using testing::ClusteredData;
using testing::Dataset;
using testing::RecallAtK;

constexpr size_t kDim = 384;

// CPU seconds used by all threads of this process so far.
double ProcessCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}
const size_t kRows = testing::RowsFromEnv(20000) / 2;

// Every row whose hash falls below `per_thousand` / 1000: a scattered `per_thousand`/10 %.
Roaring Scattered(size_t rows, size_t per_thousand) {
  Roaring picked;
  for (uint32_t row = 0; row < rows; ++row) {
    if ((row * 2654435761u >> 7) % 1000 < per_thousand) picked.add(row);
  }
  return picked;
}

std::unique_ptr<HnswIndex> Build(const Dataset& data,
                                 HnswParams params = {.m = 16, .ef_construction = 100}) {
  auto hnsw = HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32, params).ValueOrDie();
  // AddBatch numbers rows in data order (concurrent Adds would not), linking from 2 threads.
  EXPECT_TRUE(hnsw->AddBatch(data.values, /*threads=*/2).ok());
  return hnsw;
}

// A flat index over the rows of `data` not in `dropped`, numbered densely in order.
std::unique_ptr<FlatIndex> Survivors(const Dataset& data, const Roaring& dropped) {
  auto flat = std::make_unique<FlatIndex>(kDim, Metric::kL2);
  for (uint32_t row = 0; row < data.rows(); ++row) {
    if (!dropped.contains(row)) {
      EXPECT_TRUE(flat->Add(data.row(row)).ok());
    }
  }
  return flat;
}

size_t Bytes(const HnswIndex& index) {
  const MemoryUsage memory = index.memory();
  return memory.vector_bytes + memory.graph_bytes;
}

class HnswCompactionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Dataset(ClusteredData(kRows, kDim, /*seed=*/21));
    queries_ = new Dataset(ClusteredData(200, kDim, /*seed=*/22));
    const double start = ProcessCpuSeconds();
    hnsw_ = Build(*data_).release();
    build_seconds_ = ProcessCpuSeconds() - start;
  }
  static void TearDownTestSuite() {
    delete hnsw_;
    delete queries_;
    delete data_;
  }

  static Dataset* data_;
  static Dataset* queries_;
  static HnswIndex* hnsw_;
  static double build_seconds_;
};

Dataset* HnswCompactionTest::data_ = nullptr;
Dataset* HnswCompactionTest::queries_ = nullptr;
HnswIndex* HnswCompactionTest::hnsw_ = nullptr;
double HnswCompactionTest::build_seconds_ = 0;

TEST_F(HnswCompactionTest, RecallOverSurvivorsStaysAbove95PercentAfterDropping30Percent) {
  const Roaring dropped = Scattered(kRows, 300);
  ASSERT_NEAR(static_cast<double>(dropped.cardinality()) / kRows, 0.3, 0.02);
  const double start = ProcessCpuSeconds();
  auto compacted = HnswCompaction::Compact(*hnsw_, dropped, /*threads=*/2).ValueOrDie();
  const double seconds = ProcessCpuSeconds() - start;
  RecordProperty("compact_cpu_seconds", std::to_string(seconds));
  RecordProperty("build_cpu_seconds", std::to_string(build_seconds_));
  // A repair, not a rebuild: CPU time, which other processes on the machine do not inflate.
  EXPECT_LT(seconds, build_seconds_ / 2);
  EXPECT_EQ(compacted->size(), kRows - dropped.cardinality());
  const auto truth = Survivors(*data_, dropped);
  const double recall = RecallAtK(*compacted, *truth, *queries_, {.k = 10, .ef = 64}).ValueOrDie();
  RecordProperty("recall_at_10", std::to_string(recall));
  EXPECT_GE(recall, 0.95);
  // About as good as searching the old graph with the dropped rows excluded.
  FlatIndex all(kDim, Metric::kL2);
  ASSERT_TRUE(testing::AddAll(all, *data_).ok());
  const double excluded =
      RecallAtK(*hnsw_, all, *queries_, {.k = 10, .ef = 64, .exclude = &dropped}).ValueOrDie();
  RecordProperty("recall_at_10_excluding", std::to_string(excluded));
  EXPECT_GE(recall, excluded - 0.02);
  // Vectors and level-0 lists live in chunks of 4096 rows, so the total drops by whole chunks
  // (at the default size: 3 -> 2); upper-level lists are allocated per row.
  EXPECT_LT(compacted->memory().graph_bytes, hnsw_->memory().graph_bytes);
  EXPECT_LE(Bytes(*compacted), Bytes(*hnsw_));
}

TEST_F(HnswCompactionTest, RowsAreRenumberedDenselyInOrder) {
  Roaring dropped;
  dropped.addRange(0, 100);
  dropped.add(500);
  auto compacted = HnswCompaction::Compact(*hnsw_, dropped, /*threads=*/1).ValueOrDie();
  std::vector<Neighbor> found;
  // Old row 100 is new row 0; old row 501 is new row 400 (101 dropped rows below it).
  for (const auto& [old_row, new_row] : {std::pair{100u, 0u}, {499u, 399u}, {501u, 400u}}) {
    ASSERT_TRUE(compacted->Search(data_->row(old_row), {.k = 1, .ef = 64}, &found).ok());
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].row, new_row) << "old row " << old_row;
    EXPECT_FLOAT_EQ(found[0].distance, 0.0f);
  }
}

TEST_F(HnswCompactionTest, DroppingNothingKeepsEveryResult) {
  auto compacted = HnswCompaction::Compact(*hnsw_, Roaring(), /*threads=*/2).ValueOrDie();
  EXPECT_EQ(compacted->size(), hnsw_->size());
  EXPECT_EQ(compacted->entry_point(), hnsw_->entry_point());
  std::vector<Neighbor> before, after;
  for (size_t q = 0; q < 20; ++q) {
    ASSERT_TRUE(hnsw_->Search(queries_->row(q), {.k = 10}, &before).ok());
    ASSERT_TRUE(compacted->Search(queries_->row(q), {.k = 10}, &after).ok());
    ASSERT_EQ(before.size(), after.size());
    // The same rows, except where the repair linked a row the old graph could not reach (rows
    // left without in-links by pruning are inserted again): then only ever closer ones.
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_LE(after[i].distance, before[i].distance);
      if (after[i].distance == before[i].distance) {
        EXPECT_EQ(before[i].row, after[i].row);
      }
    }
  }
}

TEST_F(HnswCompactionTest, DroppingTheEntryPointPicksAnother) {
  const RowId entry = hnsw_->entry_point().value();
  Roaring dropped;
  dropped.add(entry);
  auto compacted = HnswCompaction::Compact(*hnsw_, dropped, /*threads=*/2).ValueOrDie();
  ASSERT_TRUE(compacted->entry_point().has_value());
  const auto truth = Survivors(*data_, dropped);
  EXPECT_GE(RecallAtK(*compacted, *truth, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);
}

TEST_F(HnswCompactionTest, DroppingEverythingLeavesAnEmptyIndexThatGrowsAgain) {
  Roaring everything;
  everything.addRange(0, kRows + 10);  // rows past the index are ignored
  auto compacted = HnswCompaction::Compact(*hnsw_, everything, /*threads=*/2).ValueOrDie();
  EXPECT_EQ(compacted->size(), 0u);
  EXPECT_FALSE(compacted->entry_point().has_value());
  std::vector<Neighbor> found;
  ASSERT_TRUE(compacted->Search(queries_->row(0), {.k = 5}, &found).ok());
  EXPECT_TRUE(found.empty());
  EXPECT_EQ(compacted->Add(data_->row(7)).ValueOrDie(), 0u);
  ASSERT_TRUE(compacted->Search(data_->row(7), {.k = 5}, &found).ok());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].row, 0u);
}

TEST_F(HnswCompactionTest, CompactedIndexGrowsAndSavesLikeAnyOther) {
  const size_t half = kRows / 2;
  Dataset first{kDim, {data_->values.begin(), data_->values.begin() + half * kDim}};
  auto hnsw = Build(first);
  Roaring dropped = Scattered(half, 400);
  auto compacted = HnswCompaction::Compact(*hnsw, dropped, /*threads=*/2).ValueOrDie();
  // The second half appended after the compaction, as the store's index workers do.
  const auto rest = std::span<const float>(data_->values).subspan(half * kDim);
  ASSERT_TRUE(compacted->AddBatch(rest, /*threads=*/2).ok());
  const auto truth = Survivors(*data_, dropped);
  EXPECT_EQ(compacted->size(), truth->size());
  EXPECT_GE(RecallAtK(*compacted, *truth, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);

  const auto path = std::filesystem::temp_directory_path() /
                    ("hnsw_compaction_test_" + std::to_string(::getpid()) + ".hnsw");
  ASSERT_TRUE(compacted->Save(path.string()).ok());
  auto loaded = HnswIndex::Load(path.string()).ValueOrDie();
  std::filesystem::remove(path);
  EXPECT_EQ(loaded->size(), compacted->size());
  EXPECT_GE(RecallAtK(*loaded, *truth, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);
}

TEST_F(HnswCompactionTest, CompactingTwiceKeepsRecall) {
  const Roaring first = Scattered(kRows, 150);
  auto once = HnswCompaction::Compact(*hnsw_, first, /*threads=*/2).ValueOrDie();
  // Drop another 20% of the survivors, numbered in the compacted index.
  const Roaring second = Scattered(once->size(), 200);
  auto twice = HnswCompaction::Compact(*once, second, /*threads=*/2).ValueOrDie();
  FlatIndex truth(kDim, Metric::kL2);
  uint32_t survivor = 0;
  for (uint32_t row = 0; row < kRows; ++row) {
    if (first.contains(row)) continue;
    if (!second.contains(survivor++)) {
      ASSERT_TRUE(truth.Add(data_->row(row)).ok());
    }
  }
  EXPECT_EQ(twice->size(), truth.size());
  EXPECT_GE(RecallAtK(*twice, truth, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);
}

TEST(HnswCompactionMemoryTest, MemoryGoesDownWithTheDroppedRows) {
  // 12288 small rows fill three chunks of 4096; the 60% that survive need two.
  const Dataset data =
      ClusteredData(3 * 4096, 16, /*seed=*/41, /*clusters=*/16, /*intrinsic_dim=*/8);
  auto hnsw =
      HnswIndex::Make(16, Metric::kL2, simd::ElementType::kFloat32, {.m = 8, .ef_construction = 32})
          .ValueOrDie();
  ASSERT_TRUE(hnsw->AddBatch(data.values, /*threads=*/2).ok());
  auto compacted = HnswCompaction::Compact(*hnsw, Scattered(data.rows(), 400), 2).ValueOrDie();
  EXPECT_LT(compacted->memory().vector_bytes, hnsw->memory().vector_bytes * 7 / 10);
  EXPECT_LT(compacted->memory().graph_bytes, hnsw->memory().graph_bytes * 7 / 10);
}

TEST(HnswCompactionLineTest, RunsOfDroppedRowsAreBridged) {
  // Points on a line: the heuristic keeps one neighbour on each side, so dropping a run of
  // rows cuts the line unless the repair looks through the whole run.
  auto hnsw = HnswIndex::Make(2, Metric::kL2).ValueOrDie();
  for (int i = 0; i < 300; ++i) {
    const float point[2] = {static_cast<float>(i), 0};
    ASSERT_TRUE(hnsw->Add(point).ok());
  }
  Roaring dropped;
  dropped.addRange(100, 110);
  dropped.addRange(200, 203);
  auto compacted = HnswCompaction::Compact(*hnsw, dropped, /*threads=*/1).ValueOrDie();
  std::vector<Neighbor> found;
  // (query, nearest surviving row) across and beside the dropped runs.
  for (const auto& [x, nearest] : {std::pair{5.0f, 5u},
                                   {95.0f, 95u},
                                   {104.0f, 99u},
                                   {106.0f, 110u},
                                   {150.0f, 150u},
                                   {200.4f, 199u},
                                   {202.6f, 203u},
                                   {290.0f, 290u}}) {
    const float query[2] = {x, 0};
    ASSERT_TRUE(compacted->Search(query, {.k = 1, .ef = 10}, &found).ok());
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].row, nearest - dropped.rank(nearest)) << "query " << x;
  }
}

class HnswCompactionQuantizedTest : public ::testing::TestWithParam<Quantization> {};

// The compacted index keeps the trained quantizer and the survivors' codes (SQ8 or PQ).
TEST_P(HnswCompactionQuantizedTest, QuantizedIndexKeepsRecall) {
  const size_t rows = kRows / 2;
  const Dataset data = ClusteredData(rows, kDim, 31), queries = ClusteredData(100, kDim, 32);
  const auto training_rows = static_cast<uint32_t>(std::max<size_t>(256, rows / 4));
  auto hnsw = Build(data, {.m = 16,
                           .ef_construction = 100,
                           .quantization = GetParam(),
                           .sq8_training_rows = training_rows,
                           .pq_training_rows = training_rows});
  ASSERT_TRUE(hnsw->quantized());
  const Roaring dropped = Scattered(rows, 300);
  auto compacted = HnswCompaction::Compact(*hnsw, dropped, /*threads=*/2).ValueOrDie();
  EXPECT_TRUE(compacted->quantized());
  EXPECT_GT(compacted->memory().vector_bytes, 0u);
  const auto truth = Survivors(data, dropped);
  EXPECT_GE(RecallAtK(*compacted, *truth, queries, {.k = 10, .ef = 64}).ValueOrDie(), 0.9);
}

INSTANTIATE_TEST_SUITE_P(Sq8AndPq, HnswCompactionQuantizedTest,
                         ::testing::Values(Quantization::kSq8, Quantization::kPq));

}  // namespace
}  // namespace arbalest
