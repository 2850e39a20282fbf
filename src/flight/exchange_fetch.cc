#include "flight/exchange_fetch.h"

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/status.h>

#include <string>
#include <vector>

#include "common/json_util.h"
#include "store/dataset_layout.h"
#include "store/filter.h"
#include "store/id_lookup.h"
#include "store/scan.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;
namespace cp = arrow::compute;

// The dataset a fetch batch names: its utf8 `dataset` column, one name for every row.
arrow::Result<std::string> DatasetOf(const arrow::RecordBatch& batch) {
  const auto column = batch.GetColumnByName("dataset");
  if (!column || column->type_id() != arrow::Type::STRING) {
    return arrow::Status::Invalid(
        "fetch: a batch with an 'id' column needs a utf8 'dataset' column naming the dataset",
        column ? ", got " + column->type()->ToString() : std::string());
  }
  const auto& names = static_cast<const arrow::StringArray&>(*column);
  for (int64_t row = 0; row < names.length(); ++row) {
    if (names.IsNull(row)) return arrow::Status::Invalid("fetch: 'dataset' is null in row ", row);
    if (names.GetView(row) != names.GetView(0)) {
      return arrow::Status::Invalid("fetch: one batch fetches from one dataset; row ", row,
                                    " names '", names.GetView(row), "', row 0 '", names.GetView(0),
                                    "'");
    }
  }
  return std::string(names.GetView(0));
}

// The request's `id` column as an array of the dataset's id type `id_type`.
arrow::Result<std::shared_ptr<arrow::Array>> IdsOfType(
    const arrow::Array& column, const std::shared_ptr<arrow::DataType>& id_type,
    const std::string& dataset) {
  const bool integer_ids = arrow::is_integer(id_type->id());
  const bool fits =
      integer_ids ? arrow::is_integer(column.type_id()) : arrow::is_string(column.type_id());
  if (!fits) {
    return arrow::Status::Invalid(
        "fetch: dataset '", dataset, "' has ", *id_type, " ids, so 'id' must be a column of ",
        integer_ids ? "an integer type" : "utf8", ", got ", *column.type());
  }
  for (int64_t row = 0; column.null_count() > 0 && row < column.length(); ++row) {
    if (column.IsNull(row)) return arrow::Status::Invalid("fetch: 'id' is null in row ", row);
  }
  InitializeComputeOnce();
  auto cast = cp::Cast(column, id_type, cp::CastOptions::Safe(id_type));
  if (!cast.ok()) {
    return arrow::Status::Invalid("fetch: an id is not a ", *id_type, " id of dataset '", dataset,
                                  "': ", cast.status().message());
  }
  return cast.MoveValueUnsafe();
}

// The rows `rows` of `snapshot` (dataset row numbers, ascending) as one batch of its schema.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> RowsOf(const DatasetSnapshot& snapshot,
                                                          const Roaring& rows) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> parts;
  auto next = rows.begin();
  int64_t first = 0;
  for (const auto& stored : snapshot.batches) {
    const int64_t end = first + stored->num_rows();
    std::vector<int64_t> offsets;
    for (; next != rows.end() && *next < end; ++next) offsets.push_back(*next - first);
    if (!offsets.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto batch, PadToSchema(stored, snapshot.schema));
      const arrow::Int64Array indices(static_cast<int64_t>(offsets.size()),
                                      arrow::Buffer::Wrap(offsets));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, cp::Take(batch, indices));
      parts.push_back(taken.record_batch());
    }
    first = end;
  }
  if (parts.empty()) return arrow::RecordBatch::MakeEmpty(snapshot.schema);
  return arrow::ConcatenateRecordBatches(parts);
}

// The ids of `requested` that no row of `found` (the fetched ids) carries, as JSON.
arrow::Result<Json> MissingIds(const arrow::Array& requested, const arrow::Array& found) {
  ARROW_ASSIGN_OR_RAISE(arrow::Datum present, cp::IsIn(requested, cp::SetLookupOptions(found)));
  const auto& bits = static_cast<const arrow::BooleanArray&>(*present.make_array());
  Json missing = Json::array();
  for (int64_t row = 0; row < requested.length(); ++row) {
    if (bits.Value(row)) continue;
    switch (requested.type_id()) {
      case arrow::Type::INT64:
        missing.push_back(static_cast<const arrow::Int64Array&>(requested).Value(row));
        break;
      case arrow::Type::UINT64:
        missing.push_back(static_cast<const arrow::UInt64Array&>(requested).Value(row));
        break;
      default:
        missing.push_back(
            std::string(static_cast<const arrow::StringArray&>(requested).GetView(row)));
    }
  }
  return missing;
}

// The answer to one fetch batch: the rows, and its app_metadata.
struct Fetched {
  std::shared_ptr<arrow::RecordBatch> rows;
  Json metadata;
};

arrow::Result<Fetched> Fetch(VectorStore& store, const arrow::RecordBatch& request,
                             const std::shared_ptr<arrow::Array>& id_column) {
  ARROW_ASSIGN_OR_RAISE(const std::string name, DatasetOf(request));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(name));
  const std::shared_ptr<arrow::Schema> schema = dataset->schema();
  const int id_index = schema->GetFieldIndex(std::string(kIdColumn));
  if (id_index < 0) {
    return arrow::Status::Invalid("fetch: dataset '", name, "' has no 'id' column to fetch by");
  }
  ARROW_ASSIGN_OR_RAISE(auto ids, IdsOfType(*id_column, schema->field(id_index)->type(), name));
  // Through the id map when the dataset's ids are unique; `snapshot` is the one the rows are
  // numbered in (the id column keeps its place as the schema evolves).
  DatasetSnapshot snapshot;
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(*dataset, *ids, &snapshot));
  Fetched fetched;
  ARROW_ASSIGN_OR_RAISE(fetched.rows, RowsOf(snapshot, rows));
  ARROW_ASSIGN_OR_RAISE(Json missing, MissingIds(*ids, *fetched.rows->column(id_index)));
  fetched.metadata = Json{{"dataset", name},
                          {"requested", request.num_rows()},
                          {"rows", fetched.rows->num_rows()},
                          {"missing", std::move(missing)}};
  return fetched;
}

}  // namespace

arrow::Status ServeFetch(VectorStore& store, fl::FlightMessageReader& reader,
                         fl::FlightMessageWriter& writer) {
  std::shared_ptr<arrow::Schema> answer_schema;
  int64_t batches = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader.Next());
    if (!chunk.data) {
      if (chunk.app_metadata) continue;
      return arrow::Status::OK();
    }
    const int64_t batch = batches++;
    const arrow::RecordBatch& request = *chunk.data;
    if (request.num_rows() == 0) {
      return arrow::Status::Invalid("fetch: batch ", batch,
                                    " has no rows (send the ids to fetch in an 'id' column)");
    }
    const auto id_column = request.GetColumnByName(std::string(kIdColumn));
    if (!id_column) {  // Longbow's answer to any message: an ack
      ARROW_RETURN_NOT_OK(writer.WriteMetadata(
          JsonBuffer({{"status", "ack"}, {"batch", batch}, {"rows", request.num_rows()}})));
      continue;
    }
    auto fetched = Fetch(store, request, id_column);
    if (!fetched.ok()) {
      return fetched.status().WithMessage("batch ", batch, ": ", fetched.status().message());
    }
    const auto& rows = fetched->rows;
    if (!answer_schema) {
      answer_schema = rows->schema();
      ARROW_RETURN_NOT_OK(writer.Begin(answer_schema));
    } else if (!rows->schema()->Equals(*answer_schema)) {
      return arrow::Status::Invalid(
          "fetch: batch ", batch, ": its rows' columns differ from the first answer's (",
          rows->schema()->ToString(), " vs ", answer_schema->ToString(),
          "); fetch from datasets of different columns in separate exchanges");
    }
    fetched->metadata["batch"] = batch;
    ARROW_RETURN_NOT_OK(writer.WriteWithMetadata(*rows, JsonBuffer(fetched->metadata)));
  }
}

}  // namespace arbalest
