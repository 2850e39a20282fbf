// Recall of HNSW against the flat index on clustered 384-d data, unfiltered and filtered, on
// full vectors and on PQ codes with re-ranking. The indexes (built from 2 threads) are shared
// by the suite; ARBALEST_INDEX_TEST_ROWS scales them.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"

namespace arbalest {
namespace {

using testing::ClusteredData;
using testing::Dataset;
using testing::RecallAtK;

constexpr size_t kDim = 384;
constexpr size_t kQueries = 200;
constexpr size_t kEf = 64;

std::unique_ptr<HnswIndex> MakeHnsw(Quantization quantization, size_t rows) {
  // PQ trains on its default sample, or on half the rows of a small (sanitizer) run.
  const HnswParams defaults;
  return HnswIndex::Make(kDim, Metric::kL2, simd::ElementType::kFloat32,
                         {.m = 16,
                          .ef_construction = 100,
                          .quantization = quantization,
                          .pq_training_rows =
                              std::min(defaults.pq_training_rows, static_cast<uint32_t>(rows / 2))})
      .ValueOrDie();
}

// Built on first use and shared by the suites below.
struct Shared {
  Shared()
      : data(ClusteredData(testing::RowsFromEnv(20000), kDim, /*seed=*/1)),
        queries(ClusteredData(kQueries, kDim, /*seed=*/2)),
        flat(kDim, Metric::kL2),
        hnsw(MakeHnsw(Quantization::kNone, data.rows())),
        pq(MakeHnsw(Quantization::kPq, data.rows())) {
    // AddBatch, as the store's index workers add rows: linked from two threads, numbered in
    // data order (so the flat index's rows and filters mean the same rows).
    built = testing::AddAll(flat, data).ok() && hnsw->AddBatch(data.values, /*threads=*/2).ok() &&
            pq->AddBatch(data.values, /*threads=*/2).ok();
  }
  Dataset data, queries;
  FlatIndex flat;
  std::unique_ptr<HnswIndex> hnsw, pq;
  bool built = false;
};

class HnswRecallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static Shared shared;
    ASSERT_TRUE(shared.built);
    queries_ = &shared.queries;
    flat_ = &shared.flat;
    hnsw_ = shared.hnsw.get();
    pq_ = shared.pq.get();
  }

  Roaring EveryNth(size_t per_thousand) const {
    Roaring filter;
    for (uint32_t row = 0; row < hnsw_->size(); ++row) {
      if ((row * 2654435761u >> 7) % 1000 < per_thousand) filter.add(row);
    }
    return filter;
  }

  const Dataset* queries_ = nullptr;
  const FlatIndex* flat_ = nullptr;
  const HnswIndex* hnsw_ = nullptr;
  const HnswIndex* pq_ = nullptr;
};

TEST_F(HnswRecallTest, RecallAt10IsAtLeast95PercentAtEf64) {
  const double recall = RecallAtK(*hnsw_, *flat_, *queries_, {.k = 10, .ef = kEf}).ValueOrDie();
  RecordProperty("recall_at_10", std::to_string(recall));
  EXPECT_GE(recall, 0.95);
}

TEST_F(HnswRecallTest, PqWithReRankingRecallAt10IsAtLeast93PercentAtEf64) {
  ASSERT_TRUE(pq_->quantized());
  const double recall = RecallAtK(*pq_, *flat_, *queries_, {.k = 10, .ef = kEf}).ValueOrDie();
  RecordProperty("pq_recall_at_10", std::to_string(recall));
  EXPECT_GE(recall, 0.93);
  // Codes of pq_m bytes per row beside the vectors.
  EXPECT_GE(pq_->memory().vector_bytes, pq_->size() * (kDim * sizeof(float) + pq_->params().pq_m));
}

TEST_F(HnswRecallTest, GraphMemoryIsAccounted) {
  const MemoryUsage memory = hnsw_->memory();
  EXPECT_GE(memory.vector_bytes, hnsw_->size() * kDim * sizeof(float));
  EXPECT_GE(memory.graph_bytes, hnsw_->size() * 33 * sizeof(uint32_t));
}

struct FilterCase {
  bool pq;              // the PQ index, else the float32 one
  size_t per_thousand;  // selectivity in rows per thousand
};

class HnswFilterTest : public HnswRecallTest, public ::testing::WithParamInterface<FilterCase> {};

TEST_P(HnswFilterTest, ReturnsKWheneverKMatchAndRecallAtLeast90Percent) {
  const HnswIndex& index = GetParam().pq ? *pq_ : *hnsw_;
  const Roaring filter = EveryNth(GetParam().per_thousand);
  const SearchOptions options{.k = 10, .ef = kEf, .filter = &filter};
  std::vector<Neighbor> got;
  for (size_t q = 0; q < queries_->rows(); ++q) {
    ASSERT_TRUE(index.Search(queries_->row(q), options, &got).ok());
    ASSERT_EQ(got.size(), std::min<uint64_t>(10, filter.cardinality()));
    for (const Neighbor& n : got) ASSERT_TRUE(filter.contains(n.row));
  }
  EXPECT_GE(RecallAtK(index, *flat_, *queries_, options).ValueOrDie(), 0.9);
}

// 50%, 10%, 1%, 0.1% on full vectors; 10% on PQ codes (the graph walk, not the exact scan).
INSTANTIATE_TEST_SUITE_P(Selectivity, HnswFilterTest,
                         ::testing::Values(FilterCase{false, 500}, FilterCase{false, 100},
                                           FilterCase{false, 10}, FilterCase{false, 1},
                                           FilterCase{true, 100}),
                         [](const ::testing::TestParamInfo<FilterCase>& info) {
                           return std::string(info.param.pq ? "pq_" : "float32_") +
                                  std::to_string(info.param.per_thousand) + "_per_thousand";
                         });

}  // namespace
}  // namespace arbalest
