// The search keys of protocol.md (DoGet {"search":{...}} tickets and the VectorSearch action)
// parsed into store SearchRequests.
#pragma once

#include <arrow/result.h>

#include <string>
#include <vector>

#include "common/json_util.h"
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
arrow::Result<ParsedSearch> ParseSearch(const Json& keys, bool allow_batch, std::string_view what);

}  // namespace arbalest
