#include "flight/actions.h"

#include <arrow/status.h>

#include "flight/catalog.h"

namespace arbalest {
namespace {

arrow::Result<std::optional<std::string>> DatasetArgument(std::string_view body,
                                                          std::string_view action) {
  if (body.empty()) return std::nullopt;
  const std::string what = "body of action '" + std::string(action) + "'";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, what));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request, {"dataset", "name"}, what));
  return GetOptionalString(request, {"dataset", "name"}, what);
}

arrow::Result<Json> Stats(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto name, DatasetArgument(body, "stats"));
  if (name) {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
    return DatasetStats(*dataset);
  }
  Json datasets = Json::array();
  int64_t total_rows = 0;
  int64_t total_bytes = 0;
  for (const auto& dataset : store.List()) {
    Json stats = DatasetStats(*dataset);
    total_rows += stats["rows"].get<int64_t>();
    total_bytes += stats["bytes"].get<int64_t>();
    datasets.push_back(std::move(stats));
  }
  return Json{{"datasets", std::move(datasets)},
              {"total_rows", total_rows},
              {"total_bytes", total_bytes},
              {"memory_used_bytes", store.memory().used()},
              {"memory_limit_bytes", store.memory().limit()}};
}

arrow::Result<Json> DeleteDataset(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto name, DatasetArgument(body, "delete-dataset"));
  if (!name) return arrow::Status::Invalid("action 'delete-dataset' needs {\"dataset\": name}");
  ARROW_RETURN_NOT_OK(store.Drop(*name));
  return Json{{"deleted", true}};
}

}  // namespace

std::vector<arrow::flight::ActionType> SupportedActions() {
  return {
      {"stats", "Dataset statistics. Body: {\"dataset\": name} for one, {} for all."},
      {"delete-dataset", "Delete a dataset and all its rows. Body: {\"dataset\": name}."},
  };
}

arrow::Result<Json> RunAction(VectorStore& store, std::string_view type, std::string_view body) {
  if (type == "stats") return Stats(store, body);
  if (type == "delete-dataset") return DeleteDataset(store, body);
  std::string known;
  for (const auto& action : SupportedActions()) known += (known.empty() ? "" : ", ") + action.type;
  return arrow::Status::NotImplemented("unknown action '", type, "' (this server knows: ", known,
                                       ")");
}

}  // namespace arbalest
