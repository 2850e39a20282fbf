#include "flight/json_values.h"

#include <arrow/scalar.h>
#include <arrow/util/float16.h>

#include <string>

namespace arbalest {
namespace {

template <class ArrowType>
Json NumberAt(const arrow::Array& array, int64_t row) {
  return static_cast<const arrow::NumericArray<ArrowType>&>(array).Value(row);
}

template <class ListArray>
Json ListAt(const arrow::Array& array, int64_t row) {
  return ValuesToJson(*static_cast<const ListArray&>(array).value_slice(row));
}

}  // namespace

Json ValueToJson(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return nullptr;
  switch (array.type_id()) {
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanArray&>(array).Value(row);
    case arrow::Type::INT8:
      return NumberAt<arrow::Int8Type>(array, row);
    case arrow::Type::INT16:
      return NumberAt<arrow::Int16Type>(array, row);
    case arrow::Type::INT32:
      return NumberAt<arrow::Int32Type>(array, row);
    case arrow::Type::INT64:
      return NumberAt<arrow::Int64Type>(array, row);
    case arrow::Type::UINT8:
      return NumberAt<arrow::UInt8Type>(array, row);
    case arrow::Type::UINT16:
      return NumberAt<arrow::UInt16Type>(array, row);
    case arrow::Type::UINT32:
      return NumberAt<arrow::UInt32Type>(array, row);
    case arrow::Type::UINT64:
      return NumberAt<arrow::UInt64Type>(array, row);
    case arrow::Type::HALF_FLOAT:
      return arrow::util::Float16::FromBits(
                 static_cast<const arrow::HalfFloatArray&>(array).Value(row))
          .ToFloat();
    case arrow::Type::FLOAT:
      return NumberAt<arrow::FloatType>(array, row);
    case arrow::Type::DOUBLE:
      return NumberAt<arrow::DoubleType>(array, row);
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringArray&>(array).GetView(row));
    case arrow::Type::LARGE_STRING:
      return std::string(static_cast<const arrow::LargeStringArray&>(array).GetView(row));
    case arrow::Type::FIXED_SIZE_LIST:
      return ListAt<arrow::FixedSizeListArray>(array, row);
    case arrow::Type::LIST:
      return ListAt<arrow::ListArray>(array, row);
    case arrow::Type::LARGE_LIST:
      return ListAt<arrow::LargeListArray>(array, row);
    default: {
      auto scalar = array.GetScalar(row);
      return scalar.ok() ? Json((*scalar)->ToString()) : Json(nullptr);
    }
  }
}

Json ValuesToJson(const arrow::Array& array) {
  Json values = Json::array();
  for (int64_t i = 0; i < array.length(); ++i) values.push_back(ValueToJson(array, i));
  return values;
}

void AddColumnsToJson(const arrow::RecordBatch& batch, int first_column, int64_t row,
                      Json* object) {
  for (int c = first_column; c < batch.num_columns(); ++c) {
    (*object)[batch.schema()->field(c)->name()] = ValueToJson(*batch.column(c), row);
  }
}

}  // namespace arbalest
