#include "flight/actions.h"

#include <arrow/array.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <arrow/status.h>

#include "flight/catalog.h"
#include "flight/search_request.h"
#include "store/search.h"

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

// {"status": READY (every row indexed) | BUSY | NOT_FOUND, "index_len", "pending"}.
arrow::Result<Json> CheckReadiness(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto name, DatasetArgument(body, "check_readiness"));
  std::vector<std::shared_ptr<Dataset>> datasets;
  if (name) {
    auto dataset = store.Get(*name);
    if (!dataset.ok()) {
      if (!dataset.status().IsKeyError()) return dataset.status();
      return Json{{"status", "NOT_FOUND"}, {"index_len", 0}, {"pending", 0}};
    }
    datasets.push_back(*dataset);
  } else {
    datasets = store.List();
  }
  int64_t indexed = 0;
  int64_t pending = 0;
  for (const auto& dataset : datasets) {
    const int64_t rows = dataset->Snapshot().num_rows;
    const int64_t done = dataset->index().indexed_rows();
    indexed += done;
    pending += rows - done;
  }
  return Json{{"status", pending == 0 ? "READY" : "BUSY"},
              {"index_len", indexed},
              {"pending", pending},
              {"index_queue_depth", store.index_queue_depth()}};
}

arrow::Result<std::shared_ptr<arrow::Buffer>> IpcStream(const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, batch.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(batch));
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Finish();
}

// One Result per query vector, each an Arrow IPC stream of that query's search result.
arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> VectorSearch(VectorStore& store,
                                                                        std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, "body of action 'VectorSearch'"));
  ARROW_ASSIGN_OR_RAISE(ParsedSearch search,
                        ParseSearch(keys, /*allow_batch=*/true, "body of action 'VectorSearch'"));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search.dataset));
  std::vector<std::shared_ptr<arrow::Buffer>> results;
  for (const auto& query : search.queries) {
    ARROW_ASSIGN_OR_RAISE(auto batch, SearchDataset(*dataset, query));
    ARROW_ASSIGN_OR_RAISE(auto stream, IpcStream(*batch));
    results.push_back(std::move(stream));
  }
  return results;
}

// Row `row` of an id column (int64, uint64 or utf8) as JSON.
Json IdJson(const arrow::Array& ids, int64_t row) {
  switch (ids.type_id()) {
    case arrow::Type::INT64:
      return static_cast<const arrow::Int64Array&>(ids).Value(row);
    case arrow::Type::UINT64:
      return static_cast<const arrow::UInt64Array&>(ids).Value(row);
    default:
      return std::string(static_cast<const arrow::StringArray&>(ids).GetView(row));
  }
}

// [{"id", "score", "distance"}, ...] (distance null when the row was not in the dense list),
// best first: the hybrid search of the body's search keys, which must have a text query.
arrow::Result<Json> HybridSearch(VectorStore& store, std::string_view body) {
  constexpr std::string_view kWhat = "body of action 'HybridSearch'";
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, kWhat));
  ARROW_ASSIGN_OR_RAISE(ParsedSearch search, ParseSearch(keys, /*allow_batch=*/false, kWhat));
  SearchRequest& request = search.queries.front();
  if (!request.text_query) {
    return arrow::Status::Invalid("action 'HybridSearch' needs 'text_query' (for a dense search ",
                                  "use the VectorSearch action)");
  }
  request.columns.emplace();  // the reply carries id, score and distance only
  request.include_vectors = false;
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search.dataset));
  ARROW_ASSIGN_OR_RAISE(auto result, SearchDataset(*dataset, request));
  const auto& ids = *result->column(0);
  const auto& scores = static_cast<const arrow::FloatArray&>(*result->column(1));
  const auto& distances = static_cast<const arrow::FloatArray&>(*result->column(2));
  Json hits = Json::array();
  for (int64_t i = 0; i < result->num_rows(); ++i) {
    hits.push_back({{"id", IdJson(ids, i)},
                    {"score", scores.Value(i)},
                    {"distance", distances.IsNull(i) ? Json() : Json(distances.Value(i))}});
  }
  return hits;
}

arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> OneJson(arrow::Result<Json> reply) {
  ARROW_RETURN_NOT_OK(reply.status());
  return std::vector<std::shared_ptr<arrow::Buffer>>{JsonBuffer(*reply)};
}

}  // namespace

std::vector<arrow::flight::ActionType> SupportedActions() {
  return {
      {"VectorSearch",
       "k-NN search. Body: search keys with \"vector\" or \"vectors\" (and \"text_query\", "
       "\"alpha\" for hybrid search); one Arrow IPC stream Result per query."},
      {"HybridSearch",
       "BM25 + vector search fused by reciprocal rank. Body: search keys with \"text_query\" "
       "and optional \"alpha\" (1 dense only, 0 text only, default 0.5, < 0 adaptive). Result: "
       "[{\"id\", \"score\", \"distance\"}, ...], best first."},
      {"check_readiness",
       "Whether indexing has caught up. Body: {\"dataset\": name} or {}. Result: "
       "{\"status\": READY|BUSY|NOT_FOUND, \"index_len\", \"pending\"}."},
      {"stats", "Dataset statistics. Body: {\"dataset\": name} for one, {} for all."},
      {"delete-dataset", "Delete a dataset and all its rows. Body: {\"dataset\": name}."},
  };
}

arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> RunAction(VectorStore& store,
                                                                     std::string_view type,
                                                                     std::string_view body) {
  if (type == "VectorSearch") return VectorSearch(store, body);
  if (type == "HybridSearch") return OneJson(HybridSearch(store, body));
  if (type == "check_readiness") return OneJson(CheckReadiness(store, body));
  if (type == "stats") return OneJson(Stats(store, body));
  if (type == "delete-dataset") return OneJson(DeleteDataset(store, body));
  std::string known;
  for (const auto& action : SupportedActions()) known += (known.empty() ? "" : ", ") + action.type;
  return arrow::Status::NotImplemented("unknown action '", type, "' (this server knows: ", known,
                                       ")");
}

}  // namespace arbalest
