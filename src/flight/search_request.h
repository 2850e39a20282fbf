// The search keys of protocol.md (DoGet {"search":{...}} tickets, the VectorSearch and
// HybridSearch actions, VectorSearchByID) parsed into the store's typed SearchRequests: query
// vectors as floats, filters as a typed CachedFilter (flight/filter_parser.h), ids as literals.
#pragma once

#include <arrow/result.h>

#include <string>
#include <vector>

#include "common/json_util.h"
#include "flight/cluster_hooks.h"
#include "metrics/server_metrics.h"
#include "store/filter_expr.h"
#include "store/search.h"

namespace arbalest {

struct ParsedSearch {
  std::string dataset;
  std::vector<SearchRequest> queries;  // one per query vector
  FanOutOptions fan_out;               // local_only, require_all, timeout_ms
  Json keys;                           // the request as sent (what a cluster fan-out forwards)
};

// The `columns` key of scan and search requests: a JSON array of column names.
arrow::Result<std::vector<std::string>> ParseColumnList(const Json& columns);

// Parses a query vector (a non-empty JSON array of finite numbers). `key` names it in errors.
arrow::Result<std::vector<float>> ParseQueryVector(const Json& vector, std::string_view key);

// Parses search keys: dataset|name, vector, k, ef, filters, columns, include_vectors,
// vector_format, local_only, require_all, timeout_ms, text_query, alpha (and, when `allow_batch`,
// vectors: [[...], ...] for several queries, each searched with the same text query; they share one
// CachedFilter, so the filter is compiled once). With a text query the vector may be left out (a
// text-only search; SearchDataset refuses it unless alpha is 0). `text_stats` (internal: the global
// BM25 statistics a cluster-wide hybrid search's hop carries, flight/text_stats.h) needs a text
// query and local_only. Invalid names an unknown key or a bad value (filters: ParseFilters).
arrow::Result<ParsedSearch> ParseSearch(const Json& keys, bool allow_batch, std::string_view what);

struct ParsedSearchById {
  std::string dataset;
  FilterLiteral id;       // a number or string, converted by the store (IdsToArray)
  SearchRequest request;  // k, ef, filters; no query vector
  FanOutOptions fan_out;  // local_only, require_all, timeout_ms
};

// Parses the body of VectorSearchByID: dataset|name, id, k, ef, filters, local_only,
// require_all, timeout_ms. Invalid names an
// unknown key, a missing dataset or id, or a bad value.
arrow::Result<ParsedSearchById> ParseSearchById(const Json& keys, std::string_view what);

// SearchDataset, its latency recorded in `metrics` when not null.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TimedSearch(const Dataset& dataset,
                                                               const SearchRequest& request,
                                                               ServerMetrics* metrics);

}  // namespace arbalest
