// k-nearest-neighbour search of one dataset: each segment's HNSW graph over its linked rows,
// merged with an exact scan of each segment's rows acked but not linked yet, so a search sees
// every acked row (a search over N segments costs N graph searches). Filters are
// evaluated with Arrow compute into a row bitmap that the graph consults during traversal;
// deleted rows (each segment's own tombstones, in its local numbering) are left out of both
// the graph and the scan.
// A request with a text query is a hybrid search (hybrid_search.h), built from the pieces
// declared at the end of this header.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <roaring/roaring.hh>
#include <span>
#include <string>
#include <vector>

#include "store/cached_filter.h"
#include "store/dataset.h"
#include "text/bm25_stats.h"

namespace arbalest {

inline constexpr int64_t kMaxSearchK = 10000;

struct SearchRequest {
  std::vector<float> query;  // empty only in a text-only hybrid search (alpha = 0)
  int64_t k = 10;
  int64_t ef = 0;                              // 0: the index default
  std::shared_ptr<const CachedFilter> filter;  // null: every row
  // Stored columns to return after id/score/distance, each once (`id` leads the result and is
  // not repeated); unset: every column but the vector.
  std::optional<std::vector<std::string>> columns;
  bool include_vectors = false;
  // Dataset rows never returned, besides deleted ones (a search by id leaves out the rows
  // carrying the id).
  Roaring excluded_rows;
  // Hybrid search (hybrid_search.h): BM25 over the dataset's text columns fused with the dense
  // results. alpha: 1 dense only, 0 text only, < 0 chosen from the query; unset with a text
  // query: kDefaultHybridAlpha.
  std::optional<std::string> text_query;
  std::optional<double> alpha;
  // A cluster-wide hybrid search's hop (docs/cluster.md): BM25 scored with these statistics
  // (summed over every shard) and the unfused candidates returned, for the coordinator to fuse
  // (SearchHybrid). Unset: an ordinary search.
  std::optional<Bm25Stats> text_stats;
  // Longbow's graph_alpha: the results re-ranked with the dataset's knowledge graph (the
  // GraphSearch fusion, flight/graph_search.h, which flight's TimedSearch routes to; SearchDataset
  // ignores it). Unset: none.
  struct GraphExpansion {
    double alpha = 0.5;  // the graph side's share of the fused score, (0, 1]
    int max_hops = 1;
  };
  std::optional<GraphExpansion> graph;
};

// The k nearest live rows of `dataset` to request.query, best first, as one batch with columns
// id (the dataset's id type), score (float32, higher is better), distance (float32, lower is
// closer), then the requested stored columns, then `vector` if asked. Invalid for a query of
// the wrong width or with non-finite values, k outside 1..kMaxSearchK, or a bad filter/column.
// With a text query, the hybrid search of SearchHybrid (hybrid_search.h) instead.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDataset(const Dataset& dataset,
                                                                 const SearchRequest& request);

// ---- Pieces shared by dense and hybrid search ----

// What one search reads: the rows published when it started, the rows it may return and the
// stored columns it returns.
struct SearchScope {
  DatasetSnapshot snapshot;  // its segments' graphs hold their linked rows
  // With filters: the rows that match them, less the excluded ones (deleted ones are left out
  // by their segments' sets). Unset without.
  std::optional<Roaring> allowed;
  // Without filters: the rows the request excludes (dataset rows), besides deleted ones.
  Roaring excluded;
  std::vector<int> columns;  // output columns after id/score/distance, by schema position

  // The rows of `segment` never returned, in its local numbering: its deleted set, with the
  // request's excluded rows of the segment added into `scratch` when there are any.
  const Roaring& ExcludedIn(const SegmentView& segment, Roaring* scratch) const;
  // Whether a search may return dataset row `row`.
  bool Allows(uint64_t row) const;
};

// Checks request.k and request.ef, takes the snapshot, evaluates the filters, gathers the rows
// not to return and resolves the output columns. Invalid names a bad k, ef, filter or column.
arrow::Result<SearchScope> OpenSearchScope(const Dataset& dataset, const SearchRequest& request);

// A row found by the dense search, with the protocol's distance (lower is closer) and score
// (higher is better).
struct DenseHit {
  uint64_t row = 0;
  float distance = 0;
  float score = 0;
};

// The `k` rows `scope` allows nearest to `query`, best first (graph and unindexed tail).
// Invalid for a query whose width is not the dataset's.
arrow::Result<std::vector<DenseHit>> NearestRows(const Dataset& dataset, const SearchScope& scope,
                                                 std::span<const float> query, int64_t k,
                                                 int64_t ef);

// Where a dataset row sits: its batch in a snapshot and its offset there.
struct RowLocation {
  size_t batch = 0;
  int64_t offset = 0;
};

// Finds rows among a snapshot's batches: built once (the batches' first rows), then a binary
// search per row, so that finding a few rows costs nothing like the dataset's size.
class RowLocator {
 public:
  explicit RowLocator(const DatasetSnapshot& snapshot);
  // `row` must be below the snapshot's num_rows.
  RowLocation Locate(uint64_t row) const;

 private:
  std::vector<int64_t> firsts_;  // each batch's first row
};

// One row of a search result; `distance` unset is a null distance.
struct ResultRow {
  uint64_t row = 0;
  float score = 0;
  std::optional<float> distance;
};

// The result batch of protocol.md for `rows` (in the given order): id, score, distance, then
// scope.columns. `distance` is a nullable column when `nullable_distance`; otherwise every row
// must have a distance.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeSearchResult(
    const SearchScope& scope, const std::vector<ResultRow>& rows, bool nullable_distance);

}  // namespace arbalest
