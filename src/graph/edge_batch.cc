#include "graph/edge_batch.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/type.h>

#include <cmath>

namespace arbalest {
namespace {

arrow::Result<std::shared_ptr<arrow::Array>> CastColumn(const std::shared_ptr<arrow::Array>& column,
                                                        const std::string& name,
                                                        const std::shared_ptr<arrow::DataType>& to,
                                                        bool (*accepts)(const arrow::DataType&)) {
  if (!accepts(*column->type())) {
    return arrow::Status::Invalid("edge column '", name, "' must be ",
                                  to->id() == arrow::Type::STRING ? "a string" : "a number",
                                  " column, got ", column->type()->ToString());
  }
  if (column->null_count() > 0) {
    for (int64_t row = 0; row < column->length(); ++row) {
      if (column->IsNull(row)) {
        return arrow::Status::Invalid("edge column '", name, "' is null in row ", row);
      }
    }
  }
  if (column->type()->Equals(*to)) return column;
  auto cast = arrow::compute::Cast(*column, to, arrow::compute::CastOptions::Safe());
  if (!cast.ok()) {
    return arrow::Status::Invalid("edge column '", name, "' does not convert to ", to->ToString(),
                                  ": ", cast.status().message());
  }
  return *cast;
}

bool IsInteger(const arrow::DataType& type) { return arrow::is_integer(type.id()); }
bool IsNumber(const arrow::DataType& type) {
  return arrow::is_integer(type.id()) || arrow::is_floating(type.id());
}
bool IsString(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) {
    return IsString(*static_cast<const arrow::DictionaryType&>(type).value_type());
  }
  return type.id() == arrow::Type::STRING || type.id() == arrow::Type::LARGE_STRING;
}

}  // namespace

std::shared_ptr<arrow::Schema> EdgeSchema() {
  static const auto schema = arrow::schema({arrow::field("subject", arrow::int64(), false),
                                            arrow::field("predicate", arrow::utf8(), false),
                                            arrow::field("object", arrow::int64(), false),
                                            arrow::field("weight", arrow::float32(), false)});
  return schema;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ConformEdges(const arrow::RecordBatch& batch) {
  for (const auto& field : batch.schema()->fields()) {
    if (EdgeSchema()->GetFieldIndex(field->name()) < 0) {
      return arrow::Status::Invalid("unknown edge column '", field->name(),
                                    "' (edges have subject, predicate, object and weight)");
    }
  }
  const auto column = [&](const std::string& name) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    auto found = batch.GetColumnByName(name);
    if (!found) return arrow::Status::Invalid("edges need a '", name, "' column");
    return found;
  };
  ARROW_ASSIGN_OR_RAISE(auto subject, column("subject"));
  ARROW_ASSIGN_OR_RAISE(auto predicate, column("predicate"));
  ARROW_ASSIGN_OR_RAISE(auto object, column("object"));
  ARROW_ASSIGN_OR_RAISE(subject, CastColumn(subject, "subject", arrow::int64(), IsInteger));
  ARROW_ASSIGN_OR_RAISE(object, CastColumn(object, "object", arrow::int64(), IsInteger));
  ARROW_ASSIGN_OR_RAISE(predicate, CastColumn(predicate, "predicate", arrow::utf8(), IsString));
  std::shared_ptr<arrow::Array> weight;
  if (auto given = batch.GetColumnByName("weight")) {
    ARROW_ASSIGN_OR_RAISE(weight, CastColumn(given, "weight", arrow::float32(), IsNumber));
  } else {
    arrow::FloatBuilder ones;
    ARROW_RETURN_NOT_OK(ones.AppendValues(std::vector<float>(batch.num_rows(), 1.0f)));
    ARROW_ASSIGN_OR_RAISE(weight, ones.Finish());
  }
  const auto& names = static_cast<const arrow::StringArray&>(*predicate);
  const auto& weights = static_cast<const arrow::FloatArray&>(*weight);
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    if (names.GetView(row).empty()) {
      return arrow::Status::Invalid("edge column 'predicate' is empty in row ", row);
    }
    if (!std::isfinite(weights.Value(row))) {
      return arrow::Status::Invalid("edge column 'weight' is not finite in row ", row);
    }
  }
  return arrow::RecordBatch::Make(EdgeSchema(), batch.num_rows(),
                                  {subject, predicate, object, weight});
}

EdgeRows EdgeRowsOf(const arrow::RecordBatch& canonical) {
  const auto& subjects = static_cast<const arrow::Int64Array&>(*canonical.column(0));
  const auto& predicates = static_cast<const arrow::StringArray&>(*canonical.column(1));
  const auto& objects = static_cast<const arrow::Int64Array&>(*canonical.column(2));
  const auto& weights = static_cast<const arrow::FloatArray&>(*canonical.column(3));
  EdgeRows rows;
  const auto n = static_cast<size_t>(canonical.num_rows());
  rows.subjects.assign(subjects.raw_values(), subjects.raw_values() + n);
  rows.objects.assign(objects.raw_values(), objects.raw_values() + n);
  rows.weights.assign(weights.raw_values(), weights.raw_values() + n);
  rows.predicates.reserve(n);
  for (size_t i = 0; i < n; ++i)
    rows.predicates.push_back(predicates.GetView(static_cast<int64_t>(i)));
  return rows;
}

}  // namespace arbalest
