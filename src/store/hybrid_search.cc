#include "store/hybrid_search.h"

#include <arrow/status.h>

#include <algorithm>
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
  const bool fused = alpha > 0.0 && alpha < 1.0;
  const int64_t depth = fused ? std::max(kHybridDepthFactor * request.k, request.ef) : request.k;

  std::vector<DenseHit> dense;
  if (alpha > 0.0) {
    ARROW_ASSIGN_OR_RAISE(dense, NearestRows(dataset, scope, request.query, depth, request.ef));
  }
  std::vector<ScoredRow> lexical;
  if (alpha < 1.0) {
    const RowFilter filter =
        RowFilter::FromPredicate([&scope](uint64_t row) { return scope.Allows(row); });
    lexical = text.Search(*request.text_query, static_cast<size_t>(depth), filter);
  }

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
