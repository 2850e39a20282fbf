#include "flight/cluster_search.h"

#include "store/hybrid_search.h"

namespace arbalest {

arrow::Result<std::optional<HybridFusion>> HybridFusionFor(const SearchRequest& request) {
  if (!request.text_query || request.graph) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(const double alpha, HybridAlpha(request));
  return HybridFusion{*request.text_query, alpha, HybridDepth(request, alpha)};
}

arrow::Result<ClusterSearchResult> SearchQuery(VectorStore& store, ClusterHooks* cluster,
                                               const ParsedSearch& search, size_t index,
                                               ServerMetrics* metrics) {
  const SearchRequest& request = search.queries.at(index);
  auto local = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search.dataset));
    return TimedSearch(*dataset, request, metrics);
  };
  if (!cluster || search.fan_out.local_only) {
    ARROW_ASSIGN_OR_RAISE(auto batch, local());
    return ClusterSearchResult{std::move(batch), {}};
  }
  // The keys of this one query: a batch's "vectors" become the query's own "vector".
  Json keys = search.keys;
  if (keys.contains("vectors")) {
    keys.erase("vectors");
    keys["vector"] = request.query;
  }
  ARROW_ASSIGN_OR_RAISE(auto hybrid, HybridFusionFor(request));
  return cluster->Search(keys, request.k, search.fan_out, local, hybrid);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ScanReader(VectorStore& store,
                                                                    ClusterHooks* cluster,
                                                                    const ScanTicket& scan) {
  auto local = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(scan.dataset));
    return ScanSnapshot(dataset->Snapshot(), scan.options);
  };
  if (!cluster || scan.fan_out.local_only) return local();
  return cluster->Scan(scan.keys, scan.options.limit, scan.fan_out, local);
}

}  // namespace arbalest
