#include "flight/search_request.h"

#include <arrow/status.h>

#include <chrono>
#include <cmath>

#include "common/dataset_name.h"
#include "flight/filter_parser.h"
#include "flight/graph_search.h"
#include "flight/text_stats.h"

namespace arbalest {
namespace {

arrow::Result<bool> GetOptionalBool(const Json& keys, std::string_view key, std::string_view what) {
  auto it = keys.find(key);
  if (it == keys.end()) return false;
  if (!it->is_boolean()) {
    return arrow::Status::Invalid("'", key, "' in ", what, " must be true or false, got ",
                                  JsonForMessage(*it));
  }
  return it->get<bool>();
}

// The dataset name under dataset|name, required and valid.
arrow::Result<std::string> ParseDataset(const Json& keys, std::string_view what) {
  ARROW_ASSIGN_OR_RAISE(auto dataset, GetOptionalString(keys, {"dataset", "name"}, what));
  if (!dataset) return arrow::Status::Invalid(what, " needs 'dataset'");
  ARROW_RETURN_NOT_OK(ValidateDatasetName(*dataset));
  return std::move(*dataset);
}

// k, ef and filters, which every kind of search takes.
arrow::Status ParseSearchLimits(const Json& keys, std::string_view what, SearchRequest* request) {
  ARROW_ASSIGN_OR_RAISE(auto k, GetOptionalInt(keys, "k", what));
  request->k = k.value_or(10);
  ARROW_ASSIGN_OR_RAISE(auto ef, GetOptionalInt(keys, "ef", what));
  request->ef = ef.value_or(0);
  if (auto filters = keys.find("filters"); filters != keys.end()) {
    ARROW_ASSIGN_OR_RAISE(request->filter, ParseFilters(*filters));
  }
  return arrow::Status::OK();
}

// Longbow's graph_alpha (0: none) and graph_depth (hops, 0: none; default 1).
arrow::Result<std::optional<SearchRequest::GraphExpansion>> ParseGraphExpansion(
    const Json& keys, std::string_view what) {
  ARROW_ASSIGN_OR_RAISE(auto alpha, GetOptionalNumber(keys, "graph_alpha", what));
  ARROW_ASSIGN_OR_RAISE(auto depth, GetOptionalInt(keys, "graph_depth", what));
  if (alpha && !(*alpha >= 0 && *alpha <= 1)) {
    return arrow::Status::Invalid("'graph_alpha' in ", what, " must be in [0, 1], got ", *alpha);
  }
  if (depth && (*depth < 0 || *depth > kMaxGraphSearchHops)) {
    return arrow::Status::Invalid("'graph_depth' in ", what, " must be 0 to ", kMaxGraphSearchHops,
                                  ", got ", *depth);
  }
  if (!alpha || *alpha == 0 || depth == 0) return std::nullopt;
  return SearchRequest::GraphExpansion{*alpha, static_cast<int>(depth.value_or(1))};
}

}  // namespace

arrow::Result<std::vector<std::string>> ParseColumnList(const Json& columns) {
  if (!columns.is_array()) {
    return arrow::Status::Invalid("'columns' must be a JSON array of column names, got ",
                                  JsonForMessage(columns));
  }
  std::vector<std::string> names;
  for (const auto& column : columns) {
    if (!column.is_string()) {
      return arrow::Status::Invalid("'columns' entries must be strings, got ",
                                    JsonForMessage(column));
    }
    names.push_back(column.get<std::string>());
  }
  return names;
}

arrow::Result<std::vector<float>> ParseQueryVector(const Json& vector, std::string_view key) {
  if (!vector.is_array() || vector.empty()) {
    return arrow::Status::Invalid("'", key, "' must be a non-empty JSON array of numbers");
  }
  std::vector<float> query;
  query.reserve(vector.size());
  for (const auto& element : vector) {
    if (!element.is_number()) {
      return arrow::Status::Invalid("'", key, "' must contain only numbers, got ",
                                    JsonForMessage(element));
    }
    const float value = element.get<float>();
    if (!std::isfinite(value)) {
      return arrow::Status::Invalid("'", key, "' contains a non-finite value at position ",
                                    query.size());
    }
    query.push_back(value);
  }
  return query;
}

arrow::Result<ParsedSearch> ParseSearch(const Json& keys, bool allow_batch, std::string_view what) {
  if (!keys.is_object()) return arrow::Status::Invalid(what, " must be a JSON object");
  std::initializer_list<std::string_view> known = {
      "dataset",       "name",        "vector",     "k",           "ef",
      "filters",       "columns",     "text_query", "alpha",       "include_vectors",
      "vector_format", "local_only",  "vectors",    "require_all", "timeout_ms",
      "graph_alpha",   "graph_depth", "text_stats"};
  ARROW_RETURN_NOT_OK(CheckKnownKeys(keys, known, what));
  if (!allow_batch && keys.contains("vectors")) {
    return arrow::Status::Invalid("'vectors' (a batch of queries) is only accepted by the ",
                                  "VectorSearch action; ", what, " takes one 'vector'");
  }
  ParsedSearch parsed;
  ARROW_ASSIGN_OR_RAISE(parsed.dataset, ParseDataset(keys, what));

  SearchRequest base;
  ARROW_RETURN_NOT_OK(ParseSearchLimits(keys, what, &base));
  if (auto columns = keys.find("columns"); columns != keys.end()) {
    ARROW_ASSIGN_OR_RAISE(base.columns, ParseColumnList(*columns));
  }
  ARROW_ASSIGN_OR_RAISE(base.include_vectors, GetOptionalBool(keys, "include_vectors", what));
  ARROW_ASSIGN_OR_RAISE(parsed.fan_out, ParseFanOutOptions(keys, what));
  parsed.keys = keys;
  ARROW_RETURN_NOT_OK(GetOptionalString(keys, {"vector_format"}, what).status());
  ARROW_ASSIGN_OR_RAISE(base.text_query, GetOptionalString(keys, {"text_query"}, what));
  ARROW_ASSIGN_OR_RAISE(base.alpha, GetOptionalNumber(keys, "alpha", what));
  ARROW_ASSIGN_OR_RAISE(base.graph, ParseGraphExpansion(keys, what));
  if (auto stats = keys.find("text_stats"); stats != keys.end()) {
    // Internal: a cluster-wide hybrid search's hop (docs/cluster.md), answered locally.
    if (!base.text_query || !parsed.fan_out.local_only || base.graph) {
      return arrow::Status::Invalid(
          "'text_stats' in ", what, " is the global BM25 statistics of a cluster-wide hybrid ",
          "search's hop: it needs 'text_query' and 'local_only': true, and no graph expansion");
    }
    ARROW_ASSIGN_OR_RAISE(base.text_stats, Bm25StatsFromJson(*stats, "'text_stats'"));
  }

  const bool has_vector = keys.contains("vector");
  const bool has_vectors = keys.contains("vectors");
  if (!has_vector && !has_vectors && base.text_query) {
    // A text-only search (alpha 0); the store refuses it for any other alpha.
    parsed.queries.push_back(std::move(base));
    return parsed;
  }
  if (has_vector == has_vectors) {
    return arrow::Status::Invalid(
        what, allow_batch ? " needs exactly one of 'vector' or 'vectors'" : " needs 'vector'");
  }
  if (has_vector) {
    ARROW_ASSIGN_OR_RAISE(base.query, ParseQueryVector(keys["vector"], "vector"));
    parsed.queries.push_back(std::move(base));
    return parsed;
  }
  const Json& vectors = keys["vectors"];
  if (!vectors.is_array() || vectors.empty()) {
    return arrow::Status::Invalid("'vectors' must be a non-empty JSON array of vectors");
  }
  for (const auto& vector : vectors) {
    SearchRequest request = base;
    ARROW_ASSIGN_OR_RAISE(request.query, ParseQueryVector(vector, "vectors"));
    parsed.queries.push_back(std::move(request));
  }
  return parsed;
}

arrow::Result<ParsedSearchById> ParseSearchById(const Json& keys, std::string_view what) {
  if (!keys.is_object()) return arrow::Status::Invalid(what, " must be a JSON object");
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      keys,
      {"dataset", "name", "id", "k", "ef", "filters", "local_only", "require_all", "timeout_ms"},
      what));
  ParsedSearchById parsed;
  ARROW_ASSIGN_OR_RAISE(parsed.fan_out, ParseFanOutOptions(keys, what));
  ARROW_ASSIGN_OR_RAISE(parsed.dataset, ParseDataset(keys, what));
  auto id = keys.find("id");
  if (id == keys.end()) return arrow::Status::Invalid(what, " needs 'id'");
  if (!id->is_number() && !id->is_string()) {
    return arrow::Status::Invalid("'id' in ", what, " must be a number or a string, got ",
                                  JsonForMessage(*id));
  }
  ARROW_ASSIGN_OR_RAISE(parsed.id, ParseLiteral(*id));
  ARROW_RETURN_NOT_OK(ParseSearchLimits(keys, what, &parsed.request));
  return parsed;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> TimedSearch(const Dataset& dataset,
                                                               const SearchRequest& request,
                                                               ServerMetrics* metrics) {
  const auto start = std::chrono::steady_clock::now();
  auto result =
      request.graph ? GraphExpandedSearch(dataset, request) : SearchDataset(dataset, request);
  if (metrics && result.ok()) {
    metrics->ObserveSearch(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return result;
}

}  // namespace arbalest
