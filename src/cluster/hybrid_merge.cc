#include "cluster/hybrid_merge.h"

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>

#include <algorithm>
#include <unordered_map>

#include "cluster/search_merge.h"
#include "store/filter.h"
#include "store/hybrid_search.h"
#include "text/fusion.h"

namespace arbalest {
namespace {

// The column `name` of `schema`, checked to be of `type`.
arrow::Result<int> ColumnOf(const arrow::Schema& schema, const std::string& name,
                            const arrow::DataType& type) {
  const int index = schema.GetFieldIndex(name);
  if (index < 0 || !schema.field(index)->type()->Equals(type)) {
    return arrow::Status::Invalid("hybrid search candidates need a ", type.ToString(), " '", name,
                                  "' column: ", schema.ToString());
  }
  return index;
}

// The positions of the rows of `values` that are not null, ordered by `before` (stable),
// at most `depth` of them.
template <typename Before>
std::vector<uint64_t> Ranked(const arrow::Array& values, int64_t depth, Before before) {
  std::vector<uint64_t> rows;
  for (int64_t i = 0; i < values.length(); ++i) {
    if (values.IsValid(i)) rows.push_back(static_cast<uint64_t>(i));
  }
  std::stable_sort(rows.begin(), rows.end(), before);
  if (rows.size() > static_cast<size_t>(depth)) rows.resize(static_cast<size_t>(depth));
  return rows;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> FuseCandidates(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts, int64_t k, double alpha,
    int64_t depth) {
  InitializeComputeOnce();
  ARROW_ASSIGN_OR_RAISE(auto all, CombineParts(parts));
  const auto schema = all->schema();
  ARROW_ASSIGN_OR_RAISE(const int score_column, ColumnOf(*schema, "score", *arrow::float32()));
  ARROW_ASSIGN_OR_RAISE(const int distance_column,
                        ColumnOf(*schema, "distance", *arrow::float32()));
  ARROW_ASSIGN_OR_RAISE(const int bm25_column,
                        ColumnOf(*schema, kBm25ScoreColumn, *arrow::float64()));
  const auto& distances = static_cast<const arrow::FloatArray&>(*all->column(distance_column));
  const auto& bm25 = static_cast<const arrow::DoubleArray&>(*all->column(bm25_column));

  const std::vector<uint64_t> dense = Ranked(distances, depth, [&](uint64_t a, uint64_t b) {
    return distances.Value(static_cast<int64_t>(a)) < distances.Value(static_cast<int64_t>(b));
  });
  const std::vector<uint64_t> text = Ranked(bm25, depth, [&](uint64_t a, uint64_t b) {
    return bm25.Value(static_cast<int64_t>(a)) > bm25.Value(static_cast<int64_t>(b));
  });
  ARROW_ASSIGN_OR_RAISE(std::vector<ScoredRow> fused, FuseReciprocalRank(dense, text, alpha));
  if (fused.size() > static_cast<size_t>(k)) fused.resize(static_cast<size_t>(k));

  std::unordered_map<uint64_t, float> distance_of;
  for (uint64_t row : dense) distance_of[row] = distances.Value(static_cast<int64_t>(row));
  arrow::UInt64Builder take;
  arrow::FloatBuilder scores, fused_distances;
  for (const ScoredRow& hit : fused) {
    ARROW_RETURN_NOT_OK(take.Append(hit.row));
    ARROW_RETURN_NOT_OK(scores.Append(static_cast<float>(hit.score)));
    auto it = distance_of.find(hit.row);
    ARROW_RETURN_NOT_OK(it == distance_of.end() ? fused_distances.AppendNull()
                                                : fused_distances.Append(it->second));
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, take.Finish());
  ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(arrow::Datum(all), arrow::Datum(indices)));
  auto best = taken.record_batch();
  ARROW_ASSIGN_OR_RAISE(auto score_array, scores.Finish());
  ARROW_ASSIGN_OR_RAISE(auto distance_array, fused_distances.Finish());
  ARROW_ASSIGN_OR_RAISE(best,
                        best->SetColumn(score_column, schema->field(score_column), score_array));
  ARROW_ASSIGN_OR_RAISE(
      best, best->SetColumn(distance_column, schema->field(distance_column), distance_array));
  return best->RemoveColumn(bm25_column);
}

}  // namespace arbalest
