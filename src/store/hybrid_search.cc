#include "store/hybrid_search.h"

#include <arrow/builder.h>
#include <arrow/status.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <vector>

#include "text/fusion.h"
#include "text/words.h"

namespace arbalest {

arrow::Result<double> HybridAlpha(const SearchRequest& request) {
  if (!request.text_query) {
    if (request.alpha && *request.alpha != 1.0) {
      return arrow::Status::Invalid("'alpha' is ", *request.alpha,
                                    ", which weights a text search, but there is no 'text_query'");
    }
    return 1.0;
  }
  if (SplitWords(*request.text_query).empty()) {
    return arrow::Status::Invalid("'text_query' has no words to search for");
  }
  double alpha = request.alpha.value_or(kDefaultHybridAlpha);
  if (!(alpha <= 1.0)) {
    return arrow::Status::Invalid(
        "'alpha' must be at most 1 (1: dense only, 0: text only, below 0: adaptive), got ", alpha);
  }
  if (alpha < 0.0) alpha = AdaptiveAlpha(*request.text_query);
  if (alpha > 0.0 && request.query.empty()) {
    return arrow::Status::Invalid("'vector' is needed for a hybrid search with 'alpha' ", alpha,
                                  " (only alpha 0, text only, searches without one)");
  }
  return alpha;
}

int64_t HybridDepth(const SearchRequest& request, double alpha) {
  const bool fused = alpha > 0.0 && alpha < 1.0;
  return fused ? std::max(kHybridDepthFactor * request.k, request.ef) : request.k;
}

namespace {

// The candidates of a hop (text_stats set): every row of either list, the dense list's first,
// with its distance and its BM25 score in the last column.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CandidatesResult(
    const SearchScope& scope, const std::vector<DenseHit>& dense,
    const std::vector<ScoredRow>& lexical) {
  std::vector<ResultRow> rows;
  std::unordered_map<uint64_t, size_t> index_of;
  for (const DenseHit& hit : dense) {
    if (index_of.emplace(hit.row, rows.size()).second) rows.push_back({hit.row, 0, hit.distance});
  }
  std::vector<std::optional<double>> bm25(rows.size());
  for (const ScoredRow& hit : lexical) {
    auto [it, added] = index_of.emplace(hit.row, rows.size());
    if (added) {
      rows.push_back({hit.row, 0, std::nullopt});
      bm25.emplace_back();
    }
    bm25[it->second] = hit.score;
  }
  ARROW_ASSIGN_OR_RAISE(auto batch, MakeSearchResult(scope, rows, /*nullable_distance=*/true));
  arrow::DoubleBuilder scores;
  for (const auto& score : bm25) {
    ARROW_RETURN_NOT_OK(score ? scores.Append(*score) : scores.AppendNull());
  }
  ARROW_ASSIGN_OR_RAISE(auto column, scores.Finish());
  return batch->AddColumn(batch->num_columns(), arrow::field(kBm25ScoreColumn, arrow::float64()),
                          column);
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchHybrid(const Dataset& dataset,
                                                                const SearchRequest& request,
                                                                double alpha) {
  if (dataset.text() == nullptr) {
    return arrow::Status::Invalid("'text_query' needs full-text columns, but dataset '",
                                  dataset.name(), "' has none (they are chosen with schema ",
                                  "metadata '", kTextColumnsKey, "' when it is created)");
  }
  ARROW_ASSIGN_OR_RAISE(SearchScope scope, OpenSearchScope(dataset, request));
  const DatasetText& text = *scope.snapshot.text;  // numbered like the scope's rows
  const int64_t depth = HybridDepth(request, alpha);
  const Bm25Stats* global = request.text_stats ? &*request.text_stats : nullptr;

  std::vector<DenseHit> dense;
  if (alpha > 0.0) {
    ARROW_ASSIGN_OR_RAISE(dense, NearestRows(dataset, scope, request.query, depth, request.ef));
  }
  std::vector<ScoredRow> lexical;
  if (alpha < 1.0) {
    const RowFilter filter =
        RowFilter::FromPredicate([&scope](uint64_t row) { return scope.Allows(row); });
    lexical = text.Search(*request.text_query, static_cast<size_t>(depth), filter, global);
  }
  if (global != nullptr) return CandidatesResult(scope, dense, lexical);

  std::vector<uint64_t> dense_rows, text_rows;
  std::unordered_map<uint64_t, float> distance_of;
  for (const DenseHit& hit : dense) {
    dense_rows.push_back(hit.row);
    distance_of.emplace(hit.row, hit.distance);
  }
  for (const ScoredRow& hit : lexical) text_rows.push_back(hit.row);
  ARROW_ASSIGN_OR_RAISE(std::vector<ScoredRow> ranked,
                        FuseReciprocalRank(dense_rows, text_rows, alpha));
  if (ranked.size() > static_cast<size_t>(request.k)) ranked.resize(request.k);

  std::vector<ResultRow> rows;
  rows.reserve(ranked.size());
  for (const ScoredRow& hit : ranked) {
    ResultRow& row = rows.emplace_back(ResultRow{hit.row, static_cast<float>(hit.score), {}});
    if (auto it = distance_of.find(hit.row); it != distance_of.end()) row.distance = it->second;
  }
  return MakeSearchResult(scope, rows, /*nullable_distance=*/true);
}

}  // namespace arbalest
