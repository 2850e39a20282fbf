// The search keys of protocol.md (DoGet {"search":{...}} tickets and the VectorSearch action)
// parsed into store SearchRequests.
#pragma once

#include <arrow/result.h>

#include <string>
#include <vector>

#include "common/json_util.h"
#include "metrics/server_metrics.h"
#include "store/search.h"

namespace arbalest {

struct ParsedSearch {
  std::string dataset;
  std::vector<SearchRequest> queries;  // one per query vector
};

// Parses search keys: dataset|name, vector, k, ef, filters, columns, include_vectors,
// vector_format, local_only, text_query, alpha (and, when `allow_batch`, vectors: [[...], ...]
// for several queries, each searched with the same text query). With a text query the vector
// may be left out (a text-only search; SearchDataset refuses it unless alpha is 0). Invalid
// names an unknown key or a bad value.
// The `columns` key of scan and search requests: a JSON array of column names.
arrow::Result<std::vector<std::string>> ParseColumnList(const Json& columns);

arrow::Result<ParsedSearch> ParseSearch(const Json& keys, bool allow_batch, std::string_view what);

struct ParsedSearchById {
  std::string dataset;
  Json id;                // a JSON number or string, converted by the store (IdsFromJson)
  SearchRequest request;  // k, ef, filters; no query vector
};

// Parses the body of VectorSearchByID: dataset|name, id, k, ef, filters. Invalid names an
// unknown key, a missing dataset or id, or a bad value.
arrow::Result<ParsedSearchById> ParseSearchById(const Json& keys, std::string_view what);

// SearchDataset, its latency recorded in `metrics` when not null.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TimedSearch(const Dataset& dataset,
                                                               const SearchRequest& request,
                                                               ServerMetrics* metrics);

}  // namespace arbalest
