// AddBatch's sub-batch linking (index/hnsw_batch_link.cc): the graph depends on the rows
// alone (the same lists from 1 or 4 threads), lists are well formed (no self links, no
// duplicates, within M / 2M, rows on the levels they link), and recall holds against
// exact search, row-by-row linking and data arriving in several batches alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <span>

#include "clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"

namespace arbalest {
namespace {

using simd::ElementType;
using testing::ClusteredData;
using testing::Dataset;
using testing::RecallAtK;

constexpr size_t kDim = 64;
const size_t kRows = testing::RowsFromEnv(20000) / 2;

std::unique_ptr<HnswIndex> MakeHnsw(bool batch_link = true) {
  return HnswIndex::Make(kDim, Metric::kL2, ElementType::kFloat32,
                         {.m = 8, .ef_construction = 64, .batch_link = batch_link})
      .ValueOrDie();
}

// Levels a row links on: its lists are non-empty up to its level (the first row's may be
// empty only while it is alone), and NeighborsOf returns nothing above it.
int TopLevelOf(const HnswIndex& index, RowId row) {
  int level = 0;
  while (!index.NeighborsOf(row, level + 1).empty()) ++level;
  return level;
}

TEST(HnswBatchLinkTest, GraphIsTheSameWhateverTheThreadCount) {
  const Dataset data = ClusteredData(kRows, kDim, 41);
  std::unique_ptr<HnswIndex> one = MakeHnsw(), four = MakeHnsw();
  ASSERT_TRUE(one->AddBatch(data.values, /*threads=*/1).ok());
  ASSERT_TRUE(four->AddBatch(data.values, /*threads=*/4).ok());
  ASSERT_EQ(one->entry_point(), four->entry_point());
  size_t differing = 0;
  for (RowId row = 0; row < data.rows(); ++row) {
    for (int level = 0; level <= TopLevelOf(*one, row); ++level) {
      differing += one->NeighborsOf(row, level) != four->NeighborsOf(row, level);
    }
  }
  EXPECT_EQ(differing, 0u);
}

TEST(HnswBatchLinkTest, ListsAreWellFormed) {
  const Dataset data = ClusteredData(kRows, kDim, 42);
  std::unique_ptr<HnswIndex> hnsw = MakeHnsw();
  ASSERT_TRUE(hnsw->AddBatch(data.values, /*threads=*/2).ok());
  const uint32_t m = hnsw->params().m;
  size_t linked_to = 0;
  std::vector<uint8_t> has_in_link(data.rows());
  for (RowId row = 0; row < data.rows(); ++row) {
    const int top = TopLevelOf(*hnsw, row);
    for (int level = 0; level <= top; ++level) {
      const std::vector<RowId> links = hnsw->NeighborsOf(row, level);
      SCOPED_TRACE(::testing::Message() << "row " << row << " level " << level);
      ASSERT_FALSE(links.empty());
      ASSERT_LE(links.size(), level == 0 ? 2 * m : m);
      ASSERT_EQ(std::set<RowId>(links.begin(), links.end()).size(), links.size());
      for (RowId to : links) {
        ASSERT_NE(to, row);
        ASSERT_LT(to, data.rows());
        // A row linked on `level` has lists there itself.
        ASSERT_FALSE(hnsw->NeighborsOf(to, level).empty());
        if (level == 0) has_in_link[to] = 1;
      }
    }
  }
  for (uint8_t linked : has_in_link) linked_to += linked;
  // Hardly any row is left without a bottom-level link to it (hnswlib leaves a few too).
  EXPECT_GE(linked_to, data.rows() - data.rows() / 1000);
}

TEST(HnswBatchLinkTest, RecallMatchesRowByRowLinking) {
  const Dataset data = ClusteredData(kRows, kDim, 43), queries = ClusteredData(200, kDim, 44);
  FlatIndex flat(kDim, Metric::kL2);
  ASSERT_TRUE(testing::AddAll(flat, data).ok());
  std::unique_ptr<HnswIndex> batched = MakeHnsw(), rowwise = MakeHnsw(/*batch_link=*/false),
                             pieces = MakeHnsw();
  ASSERT_TRUE(batched->AddBatch(data.values, /*threads=*/2).ok());
  ASSERT_TRUE(rowwise->AddBatch(data.values, /*threads=*/2).ok());
  // The store adds rows in turns of a few thousand: sub-batches then restart at each turn.
  const std::span<const float> values(data.values);
  for (size_t begin = 0; begin < data.rows(); begin += 3000) {
    const size_t rows = std::min<size_t>(3000, data.rows() - begin);
    ASSERT_TRUE(pieces->AddBatch(values.subspan(begin * kDim, rows * kDim), 2).ok());
  }
  const SearchOptions options{.k = 10, .ef = 64};
  const double want = RecallAtK(*rowwise, flat, queries, options).ValueOrDie();
  const double got = RecallAtK(*batched, flat, queries, options).ValueOrDie();
  EXPECT_GE(got, 0.95);
  EXPECT_GE(got, want - 0.01);
  EXPECT_GE(RecallAtK(*pieces, flat, queries, options).ValueOrDie(), 0.95);
}

}  // namespace
}  // namespace arbalest
