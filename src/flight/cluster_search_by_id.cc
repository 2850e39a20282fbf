#include "flight/cluster_search_by_id.h"

#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "flight/cluster_search.h"
#include "flight/filter_parser.h"
#include "store/dataset_index.h"
#include "store/dataset_layout.h"
#include "store/scan.h"

namespace arbalest {
namespace {

Json IdCondition(std::string_view op, const Json& id) {
  return Json{{"field", kIdColumn}, {"op", op}, {"value", id}};
}

// The index of the vector column of `schema`: `name` when known (this node holds the dataset),
// else the first fixed-size list column.
int VectorColumnOf(const arrow::Schema& schema, const std::optional<std::string>& name) {
  if (name) return schema.GetFieldIndex(*name);
  for (int i = 0; i < schema.num_fields(); ++i) {
    if (schema.field(i)->type()->id() == arrow::Type::FIXED_SIZE_LIST) return i;
  }
  return -1;
}

// The vector of the first live row carrying `id`: this node's, else the first member's.
arrow::Result<std::vector<float>> FindVector(VectorStore& store, ClusterHooks& cluster,
                                             const std::string& dataset_name, const Json& id,
                                             const FanOutOptions& options) {
  const Json scan_keys{
      {"dataset", dataset_name}, {"filters", Json::array({IdCondition("=", id)})}, {"limit", 1}};
  ARROW_ASSIGN_OR_RAISE(auto filter, ParseFilters(scan_keys["filters"]));
  auto dataset = store.Get(dataset_name);
  std::optional<std::string> vector_name;
  if (dataset.ok()) vector_name = (*dataset)->schema()->field((*dataset)->vector_column())->name();
  auto local = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_RETURN_NOT_OK(dataset.status());
    return ScanSnapshot((*dataset)->Snapshot(), ScanOptions{filter, 1, std::nullopt, std::nullopt});
  };
  ARROW_ASSIGN_OR_RAISE(auto reader, cluster.Scan(scan_keys, 1, options, local));
  std::shared_ptr<arrow::RecordBatch> batch;
  do {
    ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
  } while (batch && batch->num_rows() == 0);
  if (!batch) {
    const auto metadata = reader->schema()->metadata();
    const auto missing =
        metadata ? metadata->Get(kMissingNodesMetadataKey) : arrow::Result<std::string>("");
    return arrow::Status::KeyError(
        "id ", id.dump(), " not found in dataset '", dataset_name, "' on any member",
        missing.ok() && !missing->empty() ? "; members missing from the lookup: " + *missing
                                          : std::string());
  }
  const int column = VectorColumnOf(*batch->schema(), vector_name);
  if (column < 0) {
    return arrow::Status::Invalid("dataset '", dataset_name, "' has no vector column");
  }
  std::vector<float> vector;
  AppendVectorsAsFloat(*batch, column, 0, 1, &vector);
  return vector;
}

}  // namespace

arrow::Result<ClusterSearchResult> ClusterSearchById(VectorStore& store, ClusterHooks& cluster,
                                                     const Json& keys,
                                                     const ParsedSearchById& search,
                                                     ServerMetrics* metrics) {
  const Json& id = keys.at("id");
  ARROW_ASSIGN_OR_RAISE(auto vector,
                        FindVector(store, cluster, search.dataset, id, search.fan_out));
  Json search_keys = keys;
  search_keys.erase("id");
  search_keys["vector"] = vector;
  search_keys["columns"] = Json::array();
  // The request's filters, and: not the row itself (every row carrying its id, on any member).
  Json filters = Json::array();
  if (auto given = keys.find("filters"); given != keys.end()) {
    if (given->is_array()) {
      filters = *given;
    } else {
      filters.push_back(*given);
    }
  }
  filters.push_back(IdCondition("!=", id));
  search_keys["filters"] = std::move(filters);
  ARROW_ASSIGN_OR_RAISE(auto parsed, ParseSearch(search_keys, /*allow_batch=*/false,
                                                 "body of action 'VectorSearchByID'"));
  return SearchQuery(store, &cluster, parsed, 0, metrics);
}

}  // namespace arbalest
