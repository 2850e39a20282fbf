// The merge of the members' search results into the best k.
#include "cluster/search_merge.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace arbalest {
namespace {

std::shared_ptr<arrow::RecordBatch> Result(std::vector<int64_t> ids, std::vector<float> scores) {
  arrow::Int64Builder id_builder;
  arrow::FloatBuilder score_builder;
  arrow::FloatBuilder distance_builder;
  EXPECT_TRUE(id_builder.AppendValues(ids).ok());
  EXPECT_TRUE(score_builder.AppendValues(scores).ok());
  for (float score : scores) EXPECT_TRUE(distance_builder.Append(-score).ok());
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("score", arrow::float32()),
                     arrow::field("distance", arrow::float32())});
  return arrow::RecordBatch::Make(
      schema, static_cast<int64_t>(ids.size()),
      {*id_builder.Finish(), *score_builder.Finish(), *distance_builder.Finish()});
}

std::vector<int64_t> Ids(const arrow::RecordBatch& batch) {
  const auto& ids = static_cast<const arrow::Int64Array&>(*batch.column(0));
  return {ids.raw_values(), ids.raw_values() + ids.length()};
}

TEST(MergeTopK, BestScoresAcrossPartsTiesInPartOrder) {
  auto merged = MergeTopK(
      {Result({1, 2, 3}, {0.9f, 0.5f, 0.1f}), Result({}, {}), Result({10, 20}, {0.7f, 0.5f})}, 4);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(Ids(**merged), (std::vector<int64_t>{1, 10, 2, 20}));
  EXPECT_EQ((*merged)->schema()->field(1)->name(), "score");
  // k larger than all rows: every row.
  EXPECT_EQ((*MergeTopK({Result({1}, {0.1f}), Result({2}, {0.2f})}, 10))->num_rows(), 2);
}

TEST(MergeTopK, RefusesDifferentColumnsAndNoParts) {
  auto other = Result({1}, {0.5f});
  auto renamed = other->RenameColumns({"key", "score", "distance"});
  ASSERT_TRUE(renamed.ok());
  EXPECT_TRUE(MergeTopK({Result({2}, {0.1f}), *renamed}, 2).status().IsInvalid());
  EXPECT_TRUE(MergeTopK({}, 2).status().IsInvalid());
  auto no_score = other->RenameColumns({"id", "rank", "distance"});
  EXPECT_TRUE(MergeTopK({*no_score}, 2).status().IsInvalid());
}

}  // namespace
}  // namespace arbalest
