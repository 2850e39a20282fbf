#include "store/dataset_layout.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/cast.h>
#include <arrow/status.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/utf8.h>

#include <cctype>
#include <optional>
#include <unordered_set>
#include <vector>

#include "store/column_casts.h"
#include "store/schema_options.h"
#include "store/value_checks.h"

namespace arbalest {
namespace {

constexpr std::string_view kVectorTypes = "fixed_size_list<float32|float16|int8|uint8|float64, d>";

bool IsStorableVectorValue(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::FLOAT:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::INT8:
    case arrow::Type::UINT8:
    case arrow::Type::DOUBLE:
      return true;
    default:
      return false;
  }
}

// float64 vectors are stored as float32; every other element type as it comes.
std::shared_ptr<arrow::DataType> StoredVectorType(const arrow::FixedSizeListType& type) {
  if (type.value_type()->id() != arrow::Type::DOUBLE) return type.GetSharedPtr();
  return arrow::fixed_size_list(type.value_field()->WithType(arrow::float32()), type.list_size());
}

// The position of the vector column: `vector_column` when given, else the one the schema's
// `longbow.vector_column` names, else `vector`, else `embedding`.
arrow::Result<int> VectorColumnIndex(const arrow::Schema& schema, std::string_view vector_column) {
  std::optional<std::string> named;
  if (!vector_column.empty()) {
    named = std::string(vector_column);
  } else {
    named = CanonicalOption(schema, kVectorColumnOption);
  }
  if (named) {
    const int index = schema.GetFieldIndex(*named);
    if (index < 0) {
      return arrow::Status::Invalid("the vector column is named '", *named, "' (schema metadata '",
                                    kVectorColumnOption, "'), but the schema has no such column");
    }
    return index;
  }
  int index = schema.GetFieldIndex("vector");
  if (index < 0) index = schema.GetFieldIndex("embedding");
  if (index < 0) {
    return arrow::Status::Invalid("no vector column: expected a column named 'vector' or ",
                                  "'embedding' of type ", kVectorTypes,
                                  ", or schema metadata 'arbalest.vector_column' naming it");
  }
  return index;
}

arrow::Result<IdKind> IdKindOf(const arrow::Field& field) {
  switch (field.type()->id()) {
    case arrow::Type::INT64:
      return IdKind::kInt64;
    case arrow::Type::UINT64:
      return IdKind::kUInt64;
    case arrow::Type::STRING:
      return IdKind::kUtf8;
    default:
      return arrow::Status::Invalid("id column '", field.name(),
                                    "' must be int64, uint64 or utf8, got ",
                                    field.type()->ToString());
  }
}

arrow::Status CheckLayoutsAgree(const DatasetLayout& dataset, const DatasetLayout& put,
                                std::string_view name) {
  if (put.vector.column != dataset.vector.column) {
    return arrow::Status::Invalid("dataset '", name, "' stores vectors in column '",
                                  dataset.vector.column, "', but this batch has them in '",
                                  put.vector.column, "'");
  }
  if (!put.vector.value_type->Equals(*dataset.vector.value_type)) {
    return arrow::Status::Invalid(
        "vector type mismatch for dataset '", name, "': the dataset stores ",
        VectorTypeName(*dataset.vector.value_type), " vectors, this batch has ",
        VectorTypeName(*put.vector.value_type));
  }
  if (put.vector.dim != dataset.vector.dim) {
    return arrow::Status::Invalid("vector width mismatch for dataset '", name,
                                  "': the dataset has width ", dataset.vector.dim,
                                  ", this batch has width ", put.vector.dim);
  }
  if (put.id_kind == dataset.id_kind) return arrow::Status::OK();
  if (dataset.id_kind == IdKind::kAssigned) {
    return arrow::Status::Invalid("dataset '", name,
                                  "' numbers its rows itself (it was created without an 'id' "
                                  "column); remove the 'id' column from the batch");
  }
  if (put.id_kind == IdKind::kAssigned) {
    return arrow::Status::Invalid("missing column 'id' (", IdKindName(dataset.id_kind),
                                  ") required by dataset '", name, "'");
  }
  return arrow::Status::Invalid("column 'id' has type ", IdKindName(put.id_kind),
                                " in this batch but ", IdKindName(dataset.id_kind), " in dataset '",
                                name, "'");
}

// The vector column with the stored type: float64 cast to float32, and the list type taken from
// the dataset so that a differently named child field ("element" vs "item") still matches.
arrow::Result<std::shared_ptr<arrow::Array>> ConformVectors(const arrow::Array& column,
                                                            const arrow::Field& stored,
                                                            const VectorSpec& spec) {
  const auto& list = static_cast<const arrow::FixedSizeListArray&>(column);
  if (list.null_count() > 0) {
    return arrow::Status::Invalid("vector column '", spec.column, "' has ", list.null_count(),
                                  " null vectors; every row needs a vector");
  }
  const std::shared_ptr<arrow::Array> put_values =
      list.values()->Slice(list.offset() * spec.dim, list.length() * spec.dim);
  if (put_values->null_count() > 0) {
    return arrow::Status::Invalid("vector column '", spec.column, "' has ",
                                  put_values->null_count(),
                                  " null elements; vector elements must not be null");
  }
  std::shared_ptr<arrow::Array> values = put_values;
  if (values->type_id() == arrow::Type::DOUBLE) {
    ARROW_ASSIGN_OR_RAISE(values, arrow::compute::Cast(*values, arrow::float32(),
                                                       arrow::compute::CastOptions::Unsafe()));
  }
  ARROW_RETURN_NOT_OK(CheckFiniteVectors(*values, *put_values, spec.dim, spec.column));
  return arrow::FixedSizeListArray::FromArrays(values, stored.type());
}

arrow::Result<std::shared_ptr<arrow::Array>> AssignedIds(uint64_t first, int64_t rows) {
  arrow::UInt64Builder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(rows));
  for (int64_t i = 0; i < rows; ++i) builder.UnsafeAppend(first + static_cast<uint64_t>(i));
  return builder.Finish();
}

}  // namespace

arrow::Result<bool> UniqueIdOption(const arrow::Schema& schema) {
  const std::optional<std::string> value = CanonicalOption(schema, kUniqueIdOption);
  if (!value) return false;
  std::string lower = *value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true") return true;
  if (lower == "false") return false;
  return arrow::Status::Invalid("schema metadata option 'unique_id' is '", *value,
                                "'; it takes 'true' or 'false'");
}

std::string_view IdKindName(IdKind kind) {
  switch (kind) {
    case IdKind::kInt64:
      return "int64";
    case IdKind::kUInt64:
      return "uint64";
    case IdKind::kUtf8:
      return "utf8";
    case IdKind::kAssigned:
      return "uint64 (assigned)";
  }
  return "unknown";
}

std::string_view VectorTypeName(const arrow::DataType& value_type) {
  switch (value_type.id()) {
    case arrow::Type::FLOAT:
      return "float32";
    case arrow::Type::HALF_FLOAT:
      return "float16";
    case arrow::Type::INT8:
      return "int8";
    case arrow::Type::UINT8:
      return "uint8";
    default:
      return "unsupported";
  }
}

arrow::Result<DatasetLayout> InspectPutSchema(const arrow::Schema& put_schema,
                                              std::string_view vector_column) {
  std::unordered_set<std::string> names;
  for (const auto& field : put_schema.fields()) {
    if (!names.insert(field->name()).second) {
      return arrow::Status::Invalid("duplicate column '", field->name(), "'");
    }
  }
  ARROW_ASSIGN_OR_RAISE(const int vector_index, VectorColumnIndex(put_schema, vector_column));
  const auto& vector_field = *put_schema.field(vector_index);
  if (vector_field.type()->id() != arrow::Type::FIXED_SIZE_LIST) {
    return arrow::Status::Invalid(
        "vector column '", vector_field.name(), "' must be ", kVectorTypes, ", got ",
        vector_field.type()->ToString(),
        IsVariableSizeList(*vector_field.type())
            ? " (a new dataset takes its dimension from the fixed width; puts into an existing "
              "dataset may send variable-size lists of its width)"
            : "");
  }
  const auto& list_type = static_cast<const arrow::FixedSizeListType&>(*vector_field.type());
  if (!IsStorableVectorValue(*list_type.value_type()) || list_type.list_size() <= 0) {
    return arrow::Status::Invalid("vector column '", vector_field.name(), "' must be ",
                                  kVectorTypes, " with d > 0, got ", list_type.ToString());
  }
  if (list_type.list_size() > kMaxVectorDimension) {
    return arrow::Status::Invalid("vector column '", vector_field.name(), "' has ",
                                  list_type.list_size(), " dimensions, more than the ",
                                  kMaxVectorDimension, " any dataset may have");
  }
  DatasetLayout layout;
  layout.vector.column = vector_field.name();
  layout.vector.value_type =
      static_cast<const arrow::FixedSizeListType&>(*StoredVectorType(list_type)).value_type();
  layout.vector.dim = list_type.list_size();
  const int id_index = put_schema.GetFieldIndex(std::string(kIdColumn));
  if (id_index >= 0) {
    ARROW_ASSIGN_OR_RAISE(layout.id_kind, IdKindOf(*put_schema.field(id_index)));
  }
  ARROW_ASSIGN_OR_RAISE(layout.unique_id, UniqueIdOption(put_schema));
  if (layout.unique_id && layout.id_kind == IdKind::kAssigned) {
    return arrow::Status::Invalid(
        "schema metadata option 'unique_id' is true but the schema has no 'id' column: unique "
        "ids need an 'id' column of int64, uint64 or utf8");
  }
  return layout;
}

arrow::Result<std::shared_ptr<arrow::Schema>> StoredSchemaFor(const arrow::Schema& put_schema) {
  ARROW_ASSIGN_OR_RAISE(DatasetLayout layout, InspectPutSchema(put_schema));
  arrow::FieldVector fields;
  if (layout.id_kind == IdKind::kAssigned) {
    fields.push_back(arrow::field(std::string(kIdColumn), arrow::uint64(), /*nullable=*/false));
  }
  for (const auto& field : put_schema.fields()) {
    if (field->name() == layout.vector.column) {
      const auto& list_type = static_cast<const arrow::FixedSizeListType&>(*field->type());
      fields.push_back(field->WithType(StoredVectorType(list_type)));
    } else {
      fields.push_back(field);
    }
  }
  return arrow::schema(std::move(fields), put_schema.metadata());
}

namespace {

// Where each column of the stored (or evolved) schema comes from in a put.
struct ColumnMapping {
  std::vector<int> sources;  // index in the put schema, or -1 for the assigned id column
  arrow::FieldVector fields;
  bool evolved = false;
};

// Column names reach JSON replies (stats, HybridSearch hits), which must be valid UTF-8. Checked
// on puts only: a dataset restored from the log or a snapshot of an older build keeps its names.
arrow::Status CheckColumnNamesUtf8(const arrow::Schema& put) {
  arrow::util::InitializeUTF8();
  for (int i = 0; i < put.num_fields(); ++i) {
    if (!arrow::util::ValidateUTF8(put.field(i)->name())) {
      return arrow::Status::Invalid("the name of column ", i, " is not valid UTF-8");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<ColumnMapping> MapColumns(const arrow::Schema& put, const arrow::Schema& stored,
                                        const DatasetLayout& layout, std::string_view dataset) {
  ARROW_RETURN_NOT_OK(CheckColumnNamesUtf8(put));
  // The dataset's vector column, when the put has it: the put need not repeat the option
  // that named it, and may send its vectors as variable-size lists of the dataset's width.
  const int put_vector = put.GetFieldIndex(layout.vector.column);
  std::string_view vector_column;
  std::shared_ptr<arrow::Schema> put_fixed;
  if (put_vector >= 0) {
    vector_column = layout.vector.column;
    const auto& put_type = *put.field(put_vector)->type();
    if (IsVariableSizeList(put_type)) {
      const auto& value_field = static_cast<const arrow::BaseListType&>(put_type).value_field();
      ARROW_ASSIGN_OR_RAISE(put_fixed,
                            put.SetField(put_vector, put.field(put_vector)
                                                         ->WithType(arrow::fixed_size_list(
                                                             value_field, layout.vector.dim))));
    }
  }
  ARROW_ASSIGN_OR_RAISE(DatasetLayout put_layout,
                        InspectPutSchema(put_fixed ? *put_fixed : put, vector_column));
  ARROW_RETURN_NOT_OK(CheckLayoutsAgree(layout, put_layout, dataset));
  ColumnMapping mapping;
  std::vector<bool> used(put.num_fields(), false);
  for (const auto& stored_field : stored.fields()) {
    mapping.fields.push_back(stored_field);
    if (layout.id_kind == IdKind::kAssigned && stored_field->name() == kIdColumn) {
      mapping.sources.push_back(-1);
      continue;
    }
    const int index = put.GetFieldIndex(stored_field->name());
    if (index < 0) {
      return arrow::Status::Invalid("missing column '", stored_field->name(), "' (",
                                    stored_field->type()->ToString(), ") required by dataset '",
                                    dataset, "'");
    }
    const auto& put_type = *put.field(index)->type();
    // The vector column was compared through the layouts (float64 input is narrowed later).
    if (stored_field->name() != layout.vector.column) {
      ARROW_RETURN_NOT_OK(
          CheckConvertible(stored_field->name(), put_type, *stored_field->type(), dataset));
    }
    used[index] = true;
    mapping.sources.push_back(index);
  }
  for (int i = 0; i < put.num_fields(); ++i) {
    if (used[i]) continue;
    if (!put.field(i)->nullable()) {
      return arrow::Status::Invalid("new column '", put.field(i)->name(),
                                    "' must be nullable to be added to dataset '", dataset,
                                    "' (rows already stored have no value for it)");
    }
    mapping.fields.push_back(put.field(i));
    mapping.sources.push_back(i);
    mapping.evolved = true;
  }
  return mapping;
}

}  // namespace

arrow::Status CheckPutSchema(const arrow::Schema& put_schema, const arrow::Schema& stored,
                             const DatasetLayout& layout, std::string_view dataset) {
  return MapColumns(put_schema, stored, layout, dataset).status();
}

arrow::Result<ConformedBatch> ConformBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                           const std::shared_ptr<arrow::Schema>& stored,
                                           const DatasetLayout& layout, uint64_t first_assigned_id,
                                           std::string_view dataset) {
  if (batch->num_rows() == 0) {
    return arrow::Status::Invalid("batch has 0 rows: every batch put into dataset '", dataset,
                                  "' must carry at least one row");
  }
  ARROW_ASSIGN_OR_RAISE(ColumnMapping mapping,
                        MapColumns(*batch->schema(), *stored, layout, dataset));
  arrow::ArrayVector columns;
  for (size_t i = 0; i < mapping.sources.size(); ++i) {
    const auto& field = *mapping.fields[i];
    if (mapping.sources[i] < 0) {
      ARROW_ASSIGN_OR_RAISE(auto ids, AssignedIds(first_assigned_id, batch->num_rows()));
      columns.push_back(std::move(ids));
      continue;
    }
    std::shared_ptr<arrow::Array> column = batch->column(mapping.sources[i]);
    ARROW_RETURN_NOT_OK(CheckColumnValues(*column, field.name()));
    if (field.name() == layout.vector.column) {
      if (IsVariableSizeList(*column->type())) {
        ARROW_ASSIGN_OR_RAISE(column, VectorsToFixedSize(column, field.name(), layout.vector.dim));
      }
      ARROW_ASSIGN_OR_RAISE(column, ConformVectors(*column, field, layout.vector));
    } else if (field.name() == kIdColumn && column->null_count() > 0) {
      return arrow::Status::Invalid("id column 'id' has ", column->null_count(),
                                    " nulls; every row needs an id");
    } else {
      ARROW_ASSIGN_OR_RAISE(column, ConvertColumn(column, field.name(), field.type(), dataset));
    }
    columns.push_back(std::move(column));
  }
  ConformedBatch result;
  if (mapping.evolved) result.evolved_schema = arrow::schema(mapping.fields, stored->metadata());
  result.batch = arrow::RecordBatch::Make(result.evolved_schema ? result.evolved_schema : stored,
                                          batch->num_rows(), std::move(columns));
  return result;
}

int64_t BatchBytes(std::span<const std::shared_ptr<arrow::RecordBatch>> batches) {
  int64_t bytes = 0;
  for (const auto& batch : batches) bytes += arrow::util::TotalBufferSize(*batch);
  return bytes;
}

}  // namespace arbalest
