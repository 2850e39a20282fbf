#include "flight/exchange.h"

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <arrow/status.h>

#include <optional>
#include <string>

#include "flight/cluster_search.h"
#include "flight/exchange_fetch.h"
#include "flight/filter_parser.h"
#include "flight/ingest_stream.h"
#include "flight/search_request.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

constexpr std::string_view kSearchCommand = "VectorSearch";
constexpr std::string_view kFetchCommand = "fetch";
constexpr std::string_view kIngestPath = "ingest";

// The query columns of one batch of an exchange search.
struct QueryColumns {
  const arrow::StringArray* dataset = nullptr;
  std::shared_ptr<arrow::Array> vector;
  std::shared_ptr<arrow::Array> k;   // null: 10
  std::shared_ptr<arrow::Array> ef;  // null: the index default
  // Optional, per row (a null value is the same as no column): a hybrid search's text query
  // and fusion weight, and the filter list as JSON text.
  const arrow::StringArray* text_query = nullptr;
  std::shared_ptr<arrow::Array> alpha;
  const arrow::StringArray* filters = nullptr;
  // Optional, per row, on a cluster node: local_only, require_all (boolean) and timeout_ms
  // (integer) of protocol.md's cluster search keys.
  std::shared_ptr<arrow::Array> local_only;
  std::shared_ptr<arrow::Array> require_all;
  std::shared_ptr<arrow::Array> timeout_ms;
};

// The optional utf8 column `name` of `batch`; null when absent. Invalid for another type.
arrow::Result<const arrow::StringArray*> OptionalStringColumn(const arrow::RecordBatch& batch,
                                                              std::string_view name) {
  const auto column = batch.GetColumnByName(std::string(name));
  if (!column) return nullptr;
  if (column->type_id() != arrow::Type::STRING) {
    return arrow::Status::Invalid("VectorSearch exchange: '", name, "' must be a utf8 column, got ",
                                  *column->type());
  }
  return static_cast<const arrow::StringArray*>(column.get());
}

arrow::Result<QueryColumns> FindQueryColumns(const arrow::RecordBatch& batch) {
  QueryColumns columns;
  const auto dataset = batch.GetColumnByName("dataset");
  if (!dataset || dataset->type_id() != arrow::Type::STRING) {
    return arrow::Status::Invalid(
        "VectorSearch exchange: each batch needs a utf8 'dataset' column");
  }
  columns.dataset = static_cast<const arrow::StringArray*>(dataset.get());
  columns.vector = batch.GetColumnByName("query_vector");
  if (!columns.vector || (columns.vector->type_id() != arrow::Type::FIXED_SIZE_LIST &&
                          columns.vector->type_id() != arrow::Type::LIST)) {
    return arrow::Status::Invalid(
        "VectorSearch exchange: each batch needs a 'query_vector' column of FixedSizeList or "
        "List of float32");
  }
  columns.k = batch.GetColumnByName("k");
  columns.ef = batch.GetColumnByName("ef");
  columns.timeout_ms = batch.GetColumnByName("timeout_ms");
  for (const auto& [name, column] : {std::pair{"k", columns.k}, std::pair{"ef", columns.ef},
                                     std::pair{"timeout_ms", columns.timeout_ms}}) {
    if (column && !arrow::is_integer(column->type_id())) {
      return arrow::Status::Invalid("VectorSearch exchange: '", name,
                                    "' must be an integer column, got ", *column->type());
    }
  }
  columns.alpha = batch.GetColumnByName("alpha");
  if (columns.alpha && !arrow::is_floating(columns.alpha->type_id()) &&
      !arrow::is_integer(columns.alpha->type_id())) {
    return arrow::Status::Invalid("VectorSearch exchange: 'alpha' must be a numeric column, got ",
                                  *columns.alpha->type());
  }
  ARROW_ASSIGN_OR_RAISE(columns.text_query, OptionalStringColumn(batch, "text_query"));
  ARROW_ASSIGN_OR_RAISE(columns.filters, OptionalStringColumn(batch, "filters"));
  for (auto [name, column] : {std::pair{"local_only", &columns.local_only},
                              std::pair{"require_all", &columns.require_all}}) {
    *column = batch.GetColumnByName(name);
    if (*column && (*column)->type_id() != arrow::Type::BOOL) {
      return arrow::Status::Invalid("VectorSearch exchange: '", name,
                                    "' must be a boolean column, got ", *(*column)->type());
    }
  }
  return columns;
}

// The value of `column` at `row` (not null) cast to `type`, read from the cast scalar.
template <class ScalarType>
arrow::Result<typename ScalarType::ValueType> CastValueAt(
    const arrow::Array& column, int64_t row, const std::shared_ptr<arrow::DataType>& type) {
  ARROW_ASSIGN_OR_RAISE(auto scalar, column.GetScalar(row));
  ARROW_ASSIGN_OR_RAISE(auto cast, scalar->CastTo(type));
  return static_cast<const ScalarType&>(*cast).value;
}

// The integer in `column` at `row`; `fallback` when the column is absent.
arrow::Result<int64_t> IntegerAt(const std::shared_ptr<arrow::Array>& column, int64_t row,
                                 int64_t fallback, std::string_view name) {
  if (!column) return fallback;
  if (column->IsNull(row)) {
    return arrow::Status::Invalid("VectorSearch exchange: '", name, "' is null in row ", row);
  }
  return CastValueAt<arrow::Int64Scalar>(*column, row, arrow::int64());
}

// The number in `column` at `row`; nullopt when the column is absent or the value null.
arrow::Result<std::optional<double>> NumberAt(const std::shared_ptr<arrow::Array>& column,
                                              int64_t row) {
  if (!column || column->IsNull(row)) return std::nullopt;
  return CastValueAt<arrow::DoubleScalar>(*column, row, arrow::float64());
}

// The string in `column` at `row`; nullopt when the column is absent or the value null.
std::optional<std::string> StringAt(const arrow::StringArray* column, int64_t row) {
  if (!column || column->IsNull(row)) return std::nullopt;
  return std::string(column->GetView(row));
}

// The query vector at `row` as float32.
arrow::Result<std::vector<float>> VectorAt(const arrow::Array& column, int64_t row) {
  if (column.IsNull(row)) {
    return arrow::Status::Invalid("VectorSearch exchange: 'query_vector' is null in row ", row);
  }
  const std::shared_ptr<arrow::Array> values =
      column.type_id() == arrow::Type::FIXED_SIZE_LIST
          ? static_cast<const arrow::FixedSizeListArray&>(column).value_slice(row)
          : static_cast<const arrow::ListArray&>(column).value_slice(row);
  std::vector<float> query(static_cast<size_t>(values->length()));
  for (int64_t i = 0; i < values->length(); ++i) {
    if (values->IsNull(i)) {
      return arrow::Status::Invalid("VectorSearch exchange: 'query_vector' of row ", row,
                                    " has a null element");
    }
    if (values->type_id() == arrow::Type::FLOAT) {
      query[i] = static_cast<const arrow::FloatArray&>(*values).Value(i);
    } else if (values->type_id() == arrow::Type::DOUBLE) {
      query[i] = static_cast<float>(static_cast<const arrow::DoubleArray&>(*values).Value(i));
    } else {
      return arrow::Status::Invalid(
          "VectorSearch exchange: 'query_vector' elements must be "
          "float32 or float64, got ",
          *values->type());
    }
  }
  return query;
}

// The filters of the queries of one exchange, parsed once per distinct text: a stream whose rows
// repeat a filter parses it once and shares one CachedFilter, which compiles it once per schema.
class FilterTexts {
 public:
  // The parsed filter of `text`, the 'filters' of row `row`.
  arrow::Result<std::shared_ptr<const CachedFilter>> Parse(const std::string& text, int64_t row) {
    if (parsed_ && text == text_) return filter_;
    auto json = ParseJson(text, "'filters'");
    if (!json.ok()) {
      return arrow::Status::Invalid("VectorSearch exchange: row ", row, ": ",
                                    json.status().message(), ": ", text);
    }
    ARROW_ASSIGN_OR_RAISE(filter_, ParseFilters(*json));
    text_ = text;
    parsed_ = true;
    return filter_;
  }

 private:
  bool parsed_ = false;
  std::string text_;
  std::shared_ptr<const CachedFilter> filter_;
};

// The query of row `row` of a batch with `columns`.
arrow::Result<SearchRequest> RequestAt(const QueryColumns& columns, int64_t row,
                                       FilterTexts& filters) {
  SearchRequest request;
  request.text_query = StringAt(columns.text_query, row);
  // A text-only search (alpha 0) may leave the vector null.
  if (!request.text_query || !columns.vector->IsNull(row)) {
    ARROW_ASSIGN_OR_RAISE(request.query, VectorAt(*columns.vector, row));
  }
  ARROW_ASSIGN_OR_RAISE(request.k, IntegerAt(columns.k, row, 10, "k"));
  ARROW_ASSIGN_OR_RAISE(request.ef, IntegerAt(columns.ef, row, 0, "ef"));
  ARROW_ASSIGN_OR_RAISE(request.alpha, NumberAt(columns.alpha, row));
  if (auto text = StringAt(columns.filters, row)) {
    ARROW_ASSIGN_OR_RAISE(request.filter, filters.Parse(*text, row));
  }
  return request;
}

// `result` with its `distance` column declared nullable. A hybrid query's rows found by text
// alone have no distance, so every answer of an exchange declares the column nullable: dense
// and hybrid queries then share one schema and can be mixed in one exchange.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> WithNullableDistance(
    const std::shared_ptr<arrow::RecordBatch>& result) {
  const int index = result->schema()->GetFieldIndex("distance");
  if (index < 0 || result->schema()->field(index)->nullable()) return result;
  ARROW_ASSIGN_OR_RAISE(
      auto schema,
      result->schema()->SetField(index, result->schema()->field(index)->WithNullable(true)));
  return arrow::RecordBatch::Make(std::move(schema), result->num_rows(), result->columns());
}

// The DoGet search keys of row `row`'s query `request` (what a cluster fan-out forwards).
arrow::Result<Json> SearchKeysAt(const QueryColumns& columns, int64_t row,
                                 const SearchRequest& request) {
  Json keys{{"dataset", std::string(columns.dataset->GetView(row))}, {"k", request.k}};
  if (!request.query.empty()) keys["vector"] = request.query;
  if (request.ef > 0) keys["ef"] = request.ef;
  if (request.text_query) keys["text_query"] = *request.text_query;
  if (request.alpha) keys["alpha"] = *request.alpha;
  if (auto text = StringAt(columns.filters, row)) {
    ARROW_ASSIGN_OR_RAISE(keys["filters"], ParseJson(*text, "'filters'"));
  }
  return keys;
}

// The cluster search keys of row `row` (absent or null: the defaults).
arrow::Result<FanOutOptions> FanOutOptionsAt(const QueryColumns& columns, int64_t row) {
  Json keys = Json::object();
  for (auto [name, column] : {std::pair{"local_only", &columns.local_only},
                              std::pair{"require_all", &columns.require_all}}) {
    if (*column && !(*column)->IsNull(row)) {
      keys[name] = static_cast<const arrow::BooleanArray&>(**column).Value(row);
    }
  }
  if (columns.timeout_ms && !columns.timeout_ms->IsNull(row)) {
    ARROW_ASSIGN_OR_RAISE(keys["timeout_ms"], IntegerAt(columns.timeout_ms, row, 0, "timeout_ms"));
  }
  return ParseFanOutOptions(keys, "VectorSearch exchange");
}

// Query `row` of a batch with `columns`, on this node or, with `cluster`, across the cluster.
arrow::Result<ClusterSearchResult> AnswerQuery(VectorStore& store, ServerMetrics* metrics,
                                               ClusterHooks* cluster, const QueryColumns& columns,
                                               int64_t row, FilterTexts& filters) {
  if (columns.dataset->IsNull(row)) return arrow::Status::Invalid("'dataset' is null");
  ARROW_ASSIGN_OR_RAISE(SearchRequest request, RequestAt(columns, row, filters));
  auto local = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(columns.dataset->GetView(row)));
    return TimedSearch(*dataset, request, metrics);
  };
  ClusterSearchResult found;
  ARROW_ASSIGN_OR_RAISE(FanOutOptions fan_out, FanOutOptionsAt(columns, row));
  if (cluster && !fan_out.local_only) {
    ARROW_ASSIGN_OR_RAISE(Json keys, SearchKeysAt(columns, row, request));
    ARROW_ASSIGN_OR_RAISE(auto hybrid, HybridFusionFor(request));
    ARROW_ASSIGN_OR_RAISE(found, cluster->Search(keys, request.k, fan_out, local, hybrid));
  } else {
    ARROW_ASSIGN_OR_RAISE(found.batch, local());
  }
  ARROW_ASSIGN_OR_RAISE(found.batch, WithNullableDistance(found.batch));
  return found;
}

arrow::Status ServeSearch(VectorStore& store, ServerMetrics* metrics, ClusterHooks* cluster,
                          fl::FlightMessageReader& reader, fl::FlightMessageWriter& writer) {
  std::shared_ptr<arrow::Schema> result_schema;
  int64_t query_index = 0;
  FilterTexts filters;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader.Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;
      break;
    }
    ARROW_ASSIGN_OR_RAISE(QueryColumns columns, FindQueryColumns(*chunk.data));
    for (int64_t row = 0; row < chunk.data->num_rows(); ++row, ++query_index) {
      auto answer = AnswerQuery(store, metrics, cluster, columns, row, filters);
      if (!answer.ok()) {
        return answer.status().WithMessage("query ", query_index, ": ", answer.status().message());
      }
      const auto& result = answer->batch;
      if (!result_schema) {
        result_schema = result->schema();
        ARROW_RETURN_NOT_OK(writer.Begin(result_schema));
      } else if (!result->schema()->Equals(*result_schema)) {
        return arrow::Status::Invalid(
            "query ", query_index, ": its result columns differ from the first query's (",
            result->schema()->ToString(), " vs ", result_schema->ToString(),
            "); search datasets of different columns in separate exchanges");
      }
      Json metadata{{"query", query_index},
                    {"dataset", std::string(columns.dataset->GetView(row))},
                    {"rows", result->num_rows()}};
      if (!answer->missing.empty()) metadata["missing_nodes"] = MissingNodesJson(answer->missing);
      ARROW_RETURN_NOT_OK(writer.WriteWithMetadata(*result, JsonBuffer(metadata)));
    }
  }
  return arrow::Status::OK();
}

arrow::Status ServeIngest(VectorStore& store, const std::string& dataset, bool null_sink,
                          fl::FlightMessageReader& reader, fl::FlightMessageWriter& writer) {
  ARROW_ASSIGN_OR_RAISE(auto schema, reader.GetSchema());
  IngestStream stream(store, dataset, null_sink);
  while (true) {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader.Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;
      break;
    }
    const int64_t batch_id = stream.batches();
    ARROW_ASSIGN_OR_RAISE(Json ack, stream.Append(chunk.data));
    ack["batch_id"] = batch_id;
    ARROW_RETURN_NOT_OK(writer.WriteMetadata(JsonBuffer(ack)));
  }
  return stream.Finish(*schema);
}

}  // namespace

arrow::Status ServeExchange(VectorStore& store, const ServiceOptions& options,
                            fl::FlightMessageReader& reader, fl::FlightMessageWriter& writer) {
  const fl::FlightDescriptor& descriptor = reader.descriptor();
  if (descriptor.type == fl::FlightDescriptor::CMD && descriptor.cmd == kSearchCommand) {
    return ServeSearch(store, options.metrics.get(), options.cluster.get(), reader, writer);
  }
  if (descriptor.type == fl::FlightDescriptor::CMD && descriptor.cmd == kFetchCommand) {
    return ServeFetch(store, reader, writer);
  }
  if (descriptor.type == fl::FlightDescriptor::PATH && descriptor.path.size() == 2 &&
      descriptor.path[0] == kIngestPath) {
    return ServeIngest(store, descriptor.path[1], options.null_sink, reader, writer);
  }
  return arrow::Status::Invalid(
      "DoExchange serves the descriptor commands \"VectorSearch\" and \"fetch\" and the path "
      "[\"ingest\", dataset]; got ",
      descriptor.ToString());
}

}  // namespace arbalest
