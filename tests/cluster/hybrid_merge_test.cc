// The coordinator's fusion of a cluster-wide hybrid search's candidates (hybrid_merge.h).
#include "cluster/hybrid_merge.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <optional>

#include "store/hybrid_search.h"
#include "text/fusion.h"

namespace arbalest {
namespace {

struct Candidate {
  int64_t id;
  std::optional<float> distance;
  std::optional<double> bm25;
};

std::shared_ptr<arrow::RecordBatch> Part(const std::vector<Candidate>& rows) {
  arrow::Int64Builder ids;
  arrow::FloatBuilder scores, distances;
  arrow::DoubleBuilder bm25;
  for (const Candidate& row : rows) {
    EXPECT_TRUE(ids.Append(row.id).ok());
    EXPECT_TRUE(scores.Append(0).ok());
    EXPECT_TRUE((row.distance ? distances.Append(*row.distance) : distances.AppendNull()).ok());
    EXPECT_TRUE((row.bm25 ? bm25.Append(*row.bm25) : bm25.AppendNull()).ok());
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64(), false),
                               arrow::field("score", arrow::float32(), false),
                               arrow::field("distance", arrow::float32()),
                               arrow::field(kBm25ScoreColumn, arrow::float64())});
  return arrow::RecordBatch::Make(
      schema, static_cast<int64_t>(rows.size()),
      {*ids.Finish(), *scores.Finish(), *distances.Finish(), *bm25.Finish()});
}

std::vector<int64_t> Ids(const arrow::RecordBatch& batch) {
  const auto& ids = static_cast<const arrow::Int64Array&>(*batch.column(0));
  return {ids.raw_values(), ids.raw_values() + ids.length()};
}

TEST(FuseCandidates, RanksTheMergedListsAsOneNodeWould) {
  // Shard A's local ranks put 1 first on both sides; globally 20 is nearest and 21 the best
  // text match, so fusing each shard's own ranks would be wrong.
  auto a = Part({{1, 0.3f, 2.0}, {2, 0.5f, std::nullopt}, {3, std::nullopt, 1.0}});
  auto b = Part({{20, 0.1f, std::nullopt}, {21, std::nullopt, 5.0}});
  const double alpha = 0.5;
  auto fused = FuseCandidates({a, b}, /*k=*/10, alpha, /*depth=*/10);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  // The same fusion of the global lists by hand, positions standing for the rows:
  // dense: 20, 1, 2; text: 21, 1, 3 (in the combined order a's rows are 0..2, b's 3..4).
  auto expected =
      FuseReciprocalRank(std::vector<uint64_t>{3, 0, 1}, std::vector<uint64_t>{4, 0, 2}, alpha);
  ASSERT_TRUE(expected.ok());
  const std::vector<int64_t> id_of{1, 2, 3, 20, 21};
  std::vector<int64_t> expected_ids;
  for (const ScoredRow& row : *expected) expected_ids.push_back(id_of[row.row]);
  EXPECT_EQ(Ids(**fused), expected_ids);
  EXPECT_EQ(expected_ids.front(), 1);  // in both lists
  // The single node's columns: no BM25 column; fused scores; distances of the dense list only.
  const auto& batch = **fused;
  ASSERT_EQ(batch.num_columns(), 3);
  EXPECT_EQ(batch.schema()->field(2)->name(), "distance");
  const auto& scores = static_cast<const arrow::FloatArray&>(*batch.column(1));
  const auto& distances = static_cast<const arrow::FloatArray&>(*batch.column(2));
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    EXPECT_FLOAT_EQ(scores.Value(i), static_cast<float>((*expected)[i].score));
    const int64_t id = Ids(batch)[i];
    EXPECT_EQ(distances.IsNull(i), id == 3 || id == 21) << id;
  }
}

TEST(FuseCandidates, CutsEachListToDepthAndTheResultToK) {
  auto a = Part({{1, 0.1f, 1.0}, {2, 0.2f, 2.0}});
  auto b = Part({{3, 0.15f, 3.0}, {4, 0.3f, 0.5}});
  // Depth 1: only the nearest (1) and the best text match (3) count.
  auto fused = FuseCandidates({a, b}, /*k=*/10, /*alpha=*/0.5, /*depth=*/1);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  EXPECT_EQ(Ids(**fused), (std::vector<int64_t>{1, 3}));
  // A row beyond the dense depth has no distance, as on a single node.
  const auto& distances = static_cast<const arrow::FloatArray&>(*(*fused)->column(2));
  EXPECT_FALSE(distances.IsNull(0));
  EXPECT_TRUE(distances.IsNull(1));
  // alpha 0: the text list alone, best BM25 first; k cuts it.
  auto text_only = FuseCandidates({a, b}, /*k=*/3, /*alpha=*/0.0, /*depth=*/3);
  ASSERT_TRUE(text_only.ok());
  EXPECT_EQ(Ids(**text_only), (std::vector<int64_t>{3, 2, 1}));
  // alpha 1: the dense list alone, nearest first.
  auto dense_only = FuseCandidates({a, b}, /*k=*/4, /*alpha=*/1.0, /*depth=*/4);
  ASSERT_TRUE(dense_only.ok());
  EXPECT_EQ(Ids(**dense_only), (std::vector<int64_t>{1, 3, 2, 4}));
}

TEST(FuseCandidates, RefusesBadParts) {
  EXPECT_TRUE(FuseCandidates({}, 10, 0.5, 10).status().IsInvalid());
  // A part without the BM25 column (an ordinary search result) names the column.
  auto plain = Part({{1, 0.1f, 1.0}});
  ASSERT_TRUE(plain->RemoveColumn(3).ok());
  auto status = FuseCandidates({*plain->RemoveColumn(3)}, 10, 0.5, 10).status();
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find(kBm25ScoreColumn), std::string::npos) << status.message();
  // Parts of different columns.
  auto other = *Part({{2, 0.2f, 2.0}})
                    ->AddColumn(4, arrow::field("extra", arrow::int64()),
                                *arrow::MakeArrayOfNull(arrow::int64(), 1));
  EXPECT_TRUE(FuseCandidates({Part({{1, 0.1f, 1.0}}), other}, 10, 0.5, 10).status().IsInvalid());
  EXPECT_TRUE(FuseCandidates({Part({{1, 0.1f, 1.0}})}, 10, 1.5, 10).status().IsInvalid());
}

}  // namespace
}  // namespace arbalest
