#include "flight/namespace_actions.h"

#include "common/json_util.h"

namespace arbalest {
namespace {

using Buffers = std::vector<std::shared_ptr<arrow::Buffer>>;

arrow::Result<Buffers> Reply(arrow::Result<Json> json) {
  ARROW_RETURN_NOT_OK(json.status());
  return Buffers{JsonBuffer(*json)};
}

// {"name": namespace} (alias "namespace"), required.
arrow::Result<std::string> NamespaceArgument(std::string_view body, std::string_view type) {
  const std::string what = "body of action '" + std::string(type) + "'";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body.empty() ? "{}" : body, what));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request, {"name", "namespace"}, what));
  ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(request, {"name", "namespace"}, what));
  if (!name) return arrow::Status::Invalid("action '", type, "' needs {\"name\": namespace}");
  return *name;
}

arrow::Result<Json> Create(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(std::string name, NamespaceArgument(body, "CreateNamespace"));
  ARROW_RETURN_NOT_OK(store.CreateNamespace(name));
  return Json{{"status", "created"}, {"name", name}};
}

arrow::Result<Json> Delete(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(std::string name, NamespaceArgument(body, "DeleteNamespace"));
  ARROW_ASSIGN_OR_RAISE(std::vector<std::string> dropped, store.DropNamespace(name));
  return Json{{"status", "deleted"}, {"name", name}, {"datasets_deleted", dropped}};
}

arrow::Result<Json> List(VectorStore& store) {
  const std::vector<std::string> names = store.namespaces().List();
  return Json{{"namespaces", names}, {"count", names.size()}};
}

arrow::Result<Json> DatasetCount(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(std::string name, NamespaceArgument(body, "GetNamespaceDatasetCount"));
  ARROW_ASSIGN_OR_RAISE(int64_t count, store.NamespaceDatasetCount(name));
  return Json{{"name", name}, {"count", count}};
}

}  // namespace

std::vector<arrow::flight::ActionType> NamespaceActionTypes() {
  return {
      {"CreateNamespace",
       "Create a namespace (datasets in it are named \"namespace/name\"). Body: {\"name\"}. "
       "Result: {\"status\": \"created\"}."},
      {"DeleteNamespace",
       "Delete a namespace and every dataset in it, in one WAL record. Body: {\"name\"}. "
       "Result: {\"status\": \"deleted\", \"datasets_deleted\": [...]}."},
      {"ListNamespaces", "Result: {\"namespaces\": [...], \"count\": N}, default first."},
      {"GetTotalNamespaceCount", "Result: {\"count\": N} (the default namespace included)."},
      {"GetNamespaceDatasetCount",
       "Datasets in a namespace. Body: {\"name\"}. Result: {\"name\", \"count\"}."},
  };
}

std::optional<arrow::Result<Buffers>> RunNamespaceAction(VectorStore& store, std::string_view type,
                                                         std::string_view body) {
  if (type == "CreateNamespace") return Reply(Create(store, body));
  if (type == "DeleteNamespace") return Reply(Delete(store, body));
  if (type == "ListNamespaces") return Reply(List(store));
  if (type == "GetTotalNamespaceCount") {
    return Reply(Json{{"count", store.namespaces().List().size()}});
  }
  if (type == "GetNamespaceDatasetCount") return Reply(DatasetCount(store, body));
  return std::nullopt;
}

}  // namespace arbalest
