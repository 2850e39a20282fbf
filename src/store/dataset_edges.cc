#include "store/dataset_edges.h"

#include <arrow/array.h>

#include <filesystem>
#include <functional>

#include "graph/edge_batch.h"
#include "graph/edge_file.h"
#include "store/dataset_layout.h"

namespace arbalest {
namespace {

bool IsIntegerId(const arrow::DataType& type) {
  return type.id() == arrow::Type::INT64 || type.id() == arrow::Type::UINT64;
}

// Calls `visit(row, id)` for every row of `view` in `rows` (all rows when null) that is live.
arrow::Status ForEachId(const DatasetSnapshot& view, const Roaring* rows,
                        const std::function<void(int64_t row, int64_t id)>& visit) {
  const int column = view.schema->GetFieldIndex(std::string(kIdColumn));
  if (column < 0 || !IsIntegerId(*view.schema->field(column)->type())) {
    return arrow::Status::Invalid("graph edges name rows by integer id, and this dataset's ",
                                  "'id' column is not int64 or uint64");
  }
  int64_t first = 0;
  size_t segment = 0;  // the segment of the row visited (rows and segments both in order)
  const std::vector<SegmentView>& segments = view.segments;
  for (const auto& batch : view.batches) {
    // int64 and uint64 share their bits: uint64 ids above 2^63 read as negative int64.
    const auto* values = batch->column(column)->data()->GetValues<int64_t>(1);
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      const int64_t row = first + i;
      while (segment + 1 < segments.size() && row >= segments[segment].end_row()) ++segment;
      const bool live =
          rows ? rows->contains(static_cast<uint32_t>(row))
               : segments.empty() || !segments[segment].deleted->contains(
                                         static_cast<uint32_t>(row - segments[segment].first_row));
      if (live) visit(row, values[i]);
    }
    first += batch->num_rows();
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CheckGraphIds(const Dataset& dataset) {
  const auto schema = dataset.schema();
  const int column = schema->GetFieldIndex(std::string(kIdColumn));
  if (column >= 0 && IsIntegerId(*schema->field(column)->type())) return arrow::Status::OK();
  return arrow::Status::Invalid("dataset '", dataset.name(),
                                "' cannot hold graph edges: edges name rows by integer id, and "
                                "its 'id' column is ",
                                column < 0 ? "missing" : schema->field(column)->type()->ToString());
}

arrow::Status CheckEdgeEndpoints(const DatasetSnapshot& view, const arrow::RecordBatch& edges,
                                 const std::string& dataset) {
  const EdgeRows rows = EdgeRowsOf(edges);
  std::unordered_set<int64_t> wanted(rows.subjects.begin(), rows.subjects.end());
  wanted.insert(rows.objects.begin(), rows.objects.end());
  std::unordered_set<int64_t> found;
  ARROW_RETURN_NOT_OK(ForEachId(view, nullptr, [&](int64_t, int64_t id) {
    if (wanted.contains(id)) found.insert(id);
  }));
  for (size_t i = 0; i < rows.size(); ++i) {
    for (const auto& [what, id] :
         {std::pair{"subject", rows.subjects[i]}, std::pair{"object", rows.objects[i]}}) {
      if (!found.contains(id)) {
        return arrow::Status::KeyError("id ", id, " (", what, " of edge ", i,
                                       ") is not a row of dataset '", dataset,
                                       "'; no edge was added");
      }
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::unordered_set<int64_t>> IdsOfRows(const DatasetSnapshot& view,
                                                     const Roaring& rows) {
  std::unordered_set<int64_t> ids;
  ARROW_RETURN_NOT_OK(ForEachId(view, &rows, [&](int64_t, int64_t id) { ids.insert(id); }));
  return ids;
}

arrow::Result<bool> HasLiveId(const DatasetSnapshot& view, int64_t id) {
  bool found = false;
  ARROW_RETURN_NOT_OK(
      ForEachId(view, nullptr, [&](int64_t, int64_t live) { found |= live == id; }));
  return found;
}

arrow::Result<bool> SaveEdges(const DatasetSnapshot& view, const std::string& path) {
  if (!view.edges || view.edges->count == 0) return false;
  ARROW_RETURN_NOT_OK(WriteEdgeFile(*view.edges, path));
  return true;
}

arrow::Status LoadEdges(const std::string& dir, const std::optional<SnapshotFile>& recorded,
                        Dataset& dataset) {
  const std::string path =
      (std::filesystem::path(dir) / (recorded ? recorded->name : kSnapshotEdgesFile)).string();
  if (recorded) {
    ARROW_RETURN_NOT_OK(VerifySnapshotFile(dir, *recorded));
  } else {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto batches, ReadEdgeFile(path));
  std::unordered_set<int64_t> live;
  ARROW_RETURN_NOT_OK(
      ForEachId(dataset.Snapshot(), nullptr, [&](int64_t, int64_t id) { live.insert(id); }));
  for (const auto& batch : batches) {
    EdgeRows rows = EdgeRowsOf(*batch);
    EdgeRows kept;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!live.contains(rows.subjects[i]) || !live.contains(rows.objects[i])) continue;
      kept.subjects.push_back(rows.subjects[i]);
      kept.objects.push_back(rows.objects[i]);
      kept.weights.push_back(rows.weights[i]);
      kept.predicates.push_back(rows.predicates[i]);
    }
    dataset.graph().Append(kept, 0);
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
