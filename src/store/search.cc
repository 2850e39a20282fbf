#include "store/search.h"

#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/chunked_array.h>
#include <arrow/compute/api.h>
#include <arrow/status.h>

#include <algorithm>
#include <cmath>
#include <roaring/roaring.hh>
#include <unordered_map>

#include "store/filter.h"
#include "store/hybrid_search.h"
#include "store/scan.h"
#include "store/tail_scan.h"

namespace arbalest {
namespace {

namespace cp = arrow::compute;

// The dataset rows (numbered across batches) for which `cached` holds: compiled once for the
// snapshot's schema (or taken from the filter's cache), then evaluated batch by batch.
arrow::Result<Roaring> MatchingRows(const DatasetSnapshot& snapshot, const CachedFilter& cached) {
  ARROW_ASSIGN_OR_RAISE(auto filter, cached.Bind(snapshot.schema));
  Roaring rows;
  uint32_t first = 0;
  for (const auto& stored : snapshot.batches) {
    ARROW_ASSIGN_OR_RAISE(auto batch, PadToSchema(stored, snapshot.schema));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum mask,
                          cp::ExecuteScalarExpression(filter, cp::ExecBatch(*batch)));
    if (mask.is_scalar()) {
      const auto& scalar = static_cast<const arrow::BooleanScalar&>(*mask.scalar());
      if (scalar.is_valid && scalar.value) {
        rows.addRange(first, first + static_cast<uint32_t>(batch->num_rows()));
      }
    } else {
      const std::shared_ptr<arrow::Array> mask_array = mask.make_array();  // outlives `bits`
      const auto& bits = static_cast<const arrow::BooleanArray&>(*mask_array);
      for (int64_t i = 0; i < bits.length(); ++i) {
        if (bits.IsValid(i) && bits.Value(i)) rows.add(first + static_cast<uint32_t>(i));
      }
    }
    first += static_cast<uint32_t>(batch->num_rows());
  }
  return rows;
}

// The protocol's distance (L2 is reported as a true distance) and score (higher is better).
std::pair<float, float> DistanceAndScore(Metric metric, float internal) {
  switch (metric) {
    case Metric::kL2: {
      const float distance = std::sqrt(std::max(internal, 0.0f));
      return {distance, 1.0f / (1.0f + distance)};
    }
    case Metric::kCosine:
      return {internal, 1.0f / (1.0f + internal)};
    case Metric::kDotProduct:
      return {internal, -internal};  // the dot product itself: 1/(1+d) is not monotone here
  }
  return {internal, 0.0f};
}

// The stored columns a result carries after id, score and distance: those named by 'columns'
// (default: all but the vector), then the vector with 'include_vectors'. Each column once, and
// never `id`, which always leads the result (a result with two columns of one name would be
// ambiguous to every client that reads columns by name).
arrow::Result<std::vector<int>> OutputColumns(const arrow::Schema& schema, const Dataset& dataset,
                                              const SearchRequest& request) {
  std::vector<int> columns;
  const auto add = [&columns, &schema](int index) {
    if (schema.field(index)->name() == kIdColumn) return;
    if (std::find(columns.begin(), columns.end(), index) == columns.end()) columns.push_back(index);
  };
  if (request.columns) {
    for (const auto& name : *request.columns) {
      const int index = schema.GetFieldIndex(name);
      if (index < 0) return arrow::Status::Invalid("unknown column '", name, "' in 'columns'");
      add(index);
    }
  } else {
    for (int i = 0; i < schema.num_fields(); ++i) {
      if (i != dataset.vector_column()) add(i);
    }
  }
  if (request.include_vectors) add(dataset.vector_column());
  return columns;
}

// The locations of `rows` in the snapshot's batches.
std::vector<RowLocation> LocateRows(const DatasetSnapshot& snapshot,
                                    const std::vector<ResultRow>& rows) {
  const RowLocator locator(snapshot);
  std::vector<RowLocation> locations;
  locations.reserve(rows.size());
  for (const ResultRow& row : rows) locations.push_back(locator.Locate(row.row));
  return locations;
}

// Column `column` of the stored rows at `locations`, in that order: one-row slices of the
// batches holding them (padded with nulls where a batch predates the column), concatenated.
// Arrow's Take over the whole dataset as a chunked array would cost time in its size.
arrow::Result<std::shared_ptr<arrow::Array>> TakeRows(const DatasetSnapshot& snapshot, int column,
                                                      const std::vector<RowLocation>& locations) {
  const auto& type = snapshot.schema->field(column)->type();
  if (locations.empty()) return arrow::MakeEmptyArray(type);
  std::unordered_map<size_t, std::shared_ptr<arrow::Array>> columns;  // by batch, as padded
  arrow::ArrayVector slices;
  slices.reserve(locations.size());
  for (const RowLocation& location : locations) {
    auto& source = columns[location.batch];
    if (!source) {
      ARROW_ASSIGN_OR_RAISE(auto batch,
                            PadToSchema(snapshot.batches[location.batch], snapshot.schema));
      source = batch->column(column);
    }
    slices.push_back(source->Slice(location.offset, 1));
  }
  return arrow::Concatenate(slices);
}

}  // namespace

RowLocator::RowLocator(const DatasetSnapshot& snapshot) {
  firsts_.reserve(snapshot.batches.size());
  int64_t first = 0;
  for (const auto& batch : snapshot.batches) {
    firsts_.push_back(first);
    first += batch->num_rows();
  }
}

RowLocation RowLocator::Locate(uint64_t row) const {
  const auto row_number = static_cast<int64_t>(row);
  const auto after = std::upper_bound(firsts_.begin(), firsts_.end(), row_number);
  const auto batch = static_cast<size_t>(after - firsts_.begin()) - 1;
  return {batch, row_number - firsts_[batch]};
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDataset(const Dataset& dataset,
                                                                 const SearchRequest& request) {
  ARROW_ASSIGN_OR_RAISE(const double alpha, HybridAlpha(request));
  if (request.text_query) return SearchHybrid(dataset, request, alpha);
  ARROW_ASSIGN_OR_RAISE(SearchScope scope, OpenSearchScope(dataset, request));
  ARROW_ASSIGN_OR_RAISE(std::vector<DenseHit> hits,
                        NearestRows(dataset, scope, request.query, request.k, request.ef));
  std::vector<ResultRow> rows;
  rows.reserve(hits.size());
  for (const DenseHit& hit : hits) rows.push_back({hit.row, hit.score, hit.distance});
  return MakeSearchResult(scope, rows, /*nullable_distance=*/false);
}

const Roaring& SearchScope::ExcludedIn(const SegmentView& segment, Roaring* scratch) const {
  if (excluded.isEmpty()) return segment.deleted->rows();
  Roaring local = LocalRows(excluded, segment.first_row, segment.end_row());
  if (local.isEmpty()) return segment.deleted->rows();
  *scratch = segment.deleted->rows() | local;  // a search by id: a few rows of one segment
  return *scratch;
}

bool SearchScope::Allows(uint64_t row) const {
  if (row >= static_cast<uint64_t>(snapshot.num_rows)) return false;
  const auto row32 = static_cast<uint32_t>(row);
  if (allowed ? !allowed->contains(row32) : excluded.contains(row32)) return false;
  return !snapshot.IsDeleted(static_cast<int64_t>(row));
}

arrow::Result<SearchScope> OpenSearchScope(const Dataset& dataset, const SearchRequest& request) {
  if (request.k < 1 || request.k > kMaxSearchK) {
    return arrow::Status::Invalid("'k' must be between 1 and ", kMaxSearchK, ", got ", request.k);
  }
  if (request.ef < 0) return arrow::Status::Invalid("'ef' must be >= 0, got ", request.ef);
  SearchScope scope;
  // The graphs come with the snapshot: numbered like its rows, all of them in it.
  scope.snapshot = dataset.Snapshot();
  ARROW_ASSIGN_OR_RAISE(scope.columns, OutputColumns(*scope.snapshot.schema, dataset, request));
  // Rows that may not be returned besides deleted ones (each segment's set): those the
  // request leaves out.
  if (request.filter) {
    ARROW_ASSIGN_OR_RAISE(Roaring matching, MatchingRows(scope.snapshot, *request.filter));
    matching -= request.excluded_rows;
    scope.allowed = std::move(matching);
  } else {
    scope.excluded = request.excluded_rows;
  }
  return scope;
}

arrow::Result<std::vector<DenseHit>> NearestRows(const Dataset& dataset, const SearchScope& scope,
                                                 std::span<const float> query, int64_t k,
                                                 int64_t ef) {
  const int32_t dim = dataset.layout().vector.dim;
  if (static_cast<int32_t>(query.size()) != dim) {
    return arrow::Status::Invalid("query vector has width ", query.size(), ", dataset '",
                                  dataset.name(), "' has width ", dim);
  }
  for (size_t i = 0; i < query.size(); ++i) {
    if (!std::isfinite(query[i])) {
      return arrow::Status::Invalid("query vector contains a non-finite value at position ", i);
    }
  }
  const Roaring* filter = scope.allowed ? &*scope.allowed : nullptr;
  Roaring scratch;
  const IndexConfig& config = dataset.index().config();
  const DistanceSpace space(config.metric, config.element_type, query.size());
  std::vector<Neighbor> found;
  std::vector<Neighbor> in_graph;
  // Every segment: its graph over its linked rows (the filter read at the segment's offset,
  // its own deleted rows as they are), and its rows not linked yet scanned exactly, straight
  // from their batches.
  for (const SegmentView& segment : scope.snapshot.segments) {
    const Roaring& excluded = scope.ExcludedIn(segment, &scratch);
    const Roaring* exclude = excluded.isEmpty() ? nullptr : &excluded;
    const int64_t linked = segment.linked_rows();
    if (linked > 0) {
      SearchOptions options;
      options.k = static_cast<size_t>(k);
      options.ef = static_cast<size_t>(ef);
      options.filter = filter;
      options.exclude = exclude;
      options.row_limit = static_cast<RowId>(linked);  // later rows: the tail scan below
      options.row_offset = static_cast<RowId>(segment.first_row);
      ARROW_RETURN_NOT_OK(segment.graph->Search(query, options, &in_graph));
      for (Neighbor& neighbor : in_graph) neighbor.row += options.row_offset;
      found.insert(found.end(), in_graph.begin(), in_graph.end());
    }
    if (linked == segment.rows) continue;
    ARROW_ASSIGN_OR_RAISE(auto tail, ScanTail({.batches = scope.snapshot.batches,
                                               .vector_column = dataset.vector_column(),
                                               .first_row = segment.first_row + linked,
                                               .end_row = segment.end_row(),
                                               .filter = filter,
                                               .exclude = exclude,
                                               .exclude_first_row = segment.first_row},
                                              space, query, static_cast<size_t>(k)));
    found.insert(found.end(), tail.begin(), tail.end());
  }
  std::sort(found.begin(), found.end(), CloserThan);
  if (found.size() > static_cast<size_t>(k)) found.resize(k);
  std::vector<DenseHit> hits;
  hits.reserve(found.size());
  for (const auto& neighbor : found) {
    auto [distance, score] = DistanceAndScore(dataset.index().config().metric, neighbor.distance);
    hits.push_back({neighbor.row, distance, score});
  }
  return hits;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeSearchResult(
    const SearchScope& scope, const std::vector<ResultRow>& rows, bool nullable_distance) {
  const DatasetSnapshot& snapshot = scope.snapshot;
  arrow::FloatBuilder scores, distances;
  for (const ResultRow& row : rows) {
    ARROW_RETURN_NOT_OK(scores.Append(row.score));
    if (row.distance) {
      ARROW_RETURN_NOT_OK(distances.Append(*row.distance));
    } else if (nullable_distance) {
      ARROW_RETURN_NOT_OK(distances.AppendNull());
    } else {
      return arrow::Status::UnknownError("search result row ", row.row, " has no distance");
    }
  }
  const std::vector<RowLocation> locations = LocateRows(snapshot, rows);
  const int id_column = snapshot.schema->GetFieldIndex(std::string(kIdColumn));
  arrow::FieldVector fields{snapshot.schema->field(id_column)->WithNullable(false),
                            arrow::field("score", arrow::float32(), false),
                            arrow::field("distance", arrow::float32(), nullable_distance)};
  arrow::ArrayVector arrays(3);
  ARROW_ASSIGN_OR_RAISE(arrays[0], TakeRows(snapshot, id_column, locations));
  ARROW_RETURN_NOT_OK(scores.Finish(&arrays[1]));
  ARROW_RETURN_NOT_OK(distances.Finish(&arrays[2]));
  for (int column : scope.columns) {
    fields.push_back(snapshot.schema->field(column));
    ARROW_ASSIGN_OR_RAISE(auto taken, TakeRows(snapshot, column, locations));
    arrays.push_back(std::move(taken));
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(rows.size()),
                                  std::move(arrays));
}

}  // namespace arbalest
