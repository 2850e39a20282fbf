// k-nearest-neighbour search of one dataset: the HNSW graph over indexed rows, merged with an
// exact scan of rows acked but not indexed yet, so a search sees every acked row. Filters are
// evaluated with Arrow compute into a row bitmap that the graph consults during traversal;
// deleted rows (the snapshot's tombstones) are left out of both the graph and the scan.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <roaring/roaring.hh>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "store/dataset.h"

namespace arbalest {

inline constexpr int64_t kMaxSearchK = 10000;

struct SearchRequest {
  std::vector<float> query;
  int64_t k = 10;
  int64_t ef = 0;  // 0: the index default
  Json filters;    // null, or the protocol's filter list
  // Stored columns to return after id/score/distance; unset: every column but the vector.
  std::optional<std::vector<std::string>> columns;
  bool include_vectors = false;
  // Dataset rows never returned, besides deleted ones (a search by id leaves out the rows
  // carrying the id).
  Roaring excluded_rows;
};

// Parses a query vector from JSON (an array of numbers). Invalid names the problem.
arrow::Result<std::vector<float>> ParseQueryVector(const Json& vector, std::string_view key);

// The k nearest live rows of `dataset` to request.query, best first, as one batch with columns
// id (the dataset's id type), score (float32, higher is better), distance (float32, lower is
// closer), then the requested stored columns, then `vector` if asked. Invalid for a query of
// the wrong width or with non-finite values, k outside 1..kMaxSearchK, or a bad filter/column.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDataset(const Dataset& dataset,
                                                                 const SearchRequest& request);

}  // namespace arbalest
