// HnswMerge: the merged index holds every row of both inputs in order (the first's, then the
// second's), whichever is larger; its recall over all rows against an exact index; it costs
// less than building the rows from scratch; the inputs are unchanged; SQ8 codes carry over.
// HnswIndex::DropBuildCopies: the float16 copies are freed (memory falls) and come back before
// the next insert, which links as well as before.
#include "index/hnsw_merge.h"

#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"

namespace arbalest {
namespace {

using testing::ClusteredData;
using testing::Dataset;
using testing::RecallAtK;
using testing::RowsFromEnv;

constexpr size_t kDim = 128;

double ProcessCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Rows [begin, end) of `data`.
Dataset Slice(const Dataset& data, size_t begin, size_t end) {
  return {data.dim, std::vector<float>(data.values.begin() + begin * data.dim,
                                       data.values.begin() + end * data.dim)};
}

std::unique_ptr<HnswIndex> Build(const Dataset& data,
                                 HnswParams params = {.m = 16, .ef_construction = 100}) {
  auto hnsw =
      HnswIndex::Make(data.dim, Metric::kL2, simd::ElementType::kFloat32, params).ValueOrDie();
  if (!data.values.empty()) {
    EXPECT_TRUE(hnsw->AddBatch(data.values, /*threads=*/2).ok());
  }
  return hnsw;
}

class HnswMergeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Dataset(ClusteredData(kRows, kDim, /*seed=*/31));
    queries_ = new Dataset(ClusteredData(200, kDim, /*seed=*/32));
    exact_ = new FlatIndex(kDim, Metric::kL2);
    ASSERT_TRUE(testing::AddAll(*exact_, *data_).ok());
  }
  static void TearDownTestSuite() {
    delete exact_;
    delete queries_;
    delete data_;
  }

  // Merges data rows [0, split) and [split, kRows), built apart, and checks the result.
  static std::unique_ptr<HnswIndex> MergeAt(size_t split,
                                            HnswParams params = {.m = 16, .ef_construction = 100}) {
    auto first = Build(Slice(*data_, 0, split), params);
    auto second = Build(Slice(*data_, split, kRows), params);
    const auto first_links = first->NeighborsOf(0, 0);
    auto merged = HnswMerge::Merge(*first, *second, /*threads=*/2);
    EXPECT_TRUE(merged.ok()) << merged.status().ToString();
    if (!merged.ok()) return nullptr;
    EXPECT_EQ((*merged)->size(), kRows);
    // Every row of both, in order, byte for byte.
    for (size_t row = 0; row < kRows; ++row) {
      EXPECT_EQ(std::memcmp((*merged)->rows().Row(static_cast<RowId>(row)), data_->row(row).data(),
                            kDim * sizeof(float)),
                0)
          << "row " << row;
    }
    EXPECT_EQ(first->NeighborsOf(0, 0), first_links);  // the inputs are not changed
    EXPECT_EQ(first->size(), split);
    const double recall = RecallAtK(**merged, *exact_, *queries_, {.k = 10, .ef = 64}).ValueOrDie();
    RecordProperty("recall_at_10_split_" + std::to_string(split), std::to_string(recall));
    EXPECT_GE(recall, 0.95) << "split at " << split;
    return std::move(*merged);
  }

  // 12,000 rows; fewer under ARBALEST_INDEX_TEST_ROWS (the sanitizer run), split in the same
  // proportions.
  static inline const size_t kRows = RowsFromEnv(12000);
  static Dataset* data_;
  static Dataset* queries_;
  static FlatIndex* exact_;
};

Dataset* HnswMergeTest::data_ = nullptr;
Dataset* HnswMergeTest::queries_ = nullptr;
FlatIndex* HnswMergeTest::exact_ = nullptr;

TEST_F(HnswMergeTest, TheLargerFirstTakesTheSecondsRowsAfterItsOwn) { MergeAt(kRows * 3 / 4); }

TEST_F(HnswMergeTest, TheLargerSecondTakesTheFirstsRowsBeforeItsOwn) { MergeAt(kRows / 4); }

TEST_F(HnswMergeTest, EqualHalvesAndAnEmptySide) {
  MergeAt(kRows / 2);
  auto empty = Build(Slice(*data_, 0, 0));
  auto all = Build(*data_);
  auto merged = HnswMerge::Merge(*empty, *all, 1).ValueOrDie();
  EXPECT_EQ(merged->size(), kRows);
  EXPECT_EQ(merged->NeighborsOf(5, 0), all->NeighborsOf(5, 0));  // a copy
  EXPECT_EQ(merged->entry_point(), all->entry_point());
}

TEST_F(HnswMergeTest, CostsLessThanBuildingTheRowsAgain) {
  auto first = Build(Slice(*data_, 0, kRows * 5 / 6));
  auto second = Build(Slice(*data_, kRows * 5 / 6, kRows));
  double start = ProcessCpuSeconds();
  auto rebuilt = Build(*data_);
  const double build_seconds = ProcessCpuSeconds() - start;
  start = ProcessCpuSeconds();
  auto merged = HnswMerge::Merge(*first, *second, /*threads=*/2).ValueOrDie();
  const double merge_seconds = ProcessCpuSeconds() - start;
  RecordProperty("merge_cpu_seconds", std::to_string(merge_seconds));
  RecordProperty("build_cpu_seconds", std::to_string(build_seconds));
  // A sixth of the rows inserted instead of all (CPU time: other processes do not inflate it).
  EXPECT_LT(merge_seconds, build_seconds / 2);
}

TEST_F(HnswMergeTest, Sq8CodesCarryOver) {
  HnswParams params{.m = 16, .ef_construction = 100, .quantization = Quantization::kSq8};
  // Trained on the first part before the merge, at any kRows.
  params.sq8_training_rows = static_cast<uint32_t>(std::min<size_t>(4096, kRows / 4));
  auto merged = MergeAt(kRows * 2 / 3, params);
  ASSERT_NE(merged, nullptr);
  EXPECT_TRUE(merged->quantized());
}

TEST_F(HnswMergeTest, DifferentIndexesAreRefused) {
  auto first = Build(Slice(*data_, 0, 100));
  auto other = HnswIndex::Make(kDim, Metric::kCosine).ValueOrDie();
  auto merged = HnswMerge::Merge(*first, *other, 1);
  ASSERT_FALSE(merged.ok());
  EXPECT_TRUE(merged.status().IsInvalid());
}

TEST_F(HnswMergeTest, DroppedBuildCopiesFreeMemoryAndComeBackForInserts) {
  const size_t built = kRows * 2 / 3;
  auto index = Build(Slice(*data_, 0, built));
  ASSERT_EQ(index->build_element_type(), simd::ElementType::kFloat16);
  const MemoryUsage before = index->memory();
  const int64_t freed = index->DropBuildCopies();
  EXPECT_GE(freed, static_cast<int64_t>(built * kDim * 2));  // float16 copies of the rows
  EXPECT_EQ(index->memory().vector_bytes, before.vector_bytes - static_cast<size_t>(freed));
  EXPECT_EQ(index->rows_without_build_copies(), static_cast<int64_t>(built));
  // Searches do not need them.
  FlatIndex exact(kDim, Metric::kL2);
  ASSERT_TRUE(testing::AddAll(exact, Slice(*data_, 0, built)).ok());
  EXPECT_GE(RecallAtK(*index, exact, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);
  // An insert writes them again first, and links as well as before.
  const Dataset rest = Slice(*data_, built, kRows);
  ASSERT_TRUE(index->AddBatch(rest.values, 2).ok());
  EXPECT_EQ(index->rows_without_build_copies(), 0);
  EXPECT_GE(RecallAtK(*index, *exact_, *queries_, {.k = 10, .ef = 64}).ValueOrDie(), 0.95);
}

}  // namespace
}  // namespace arbalest
