#include "store/column_casts.h"

#include <arrow/compute/cast.h>
#include <arrow/status.h>

#include <string>

namespace arbalest {
namespace {

bool IsStringLike(arrow::Type::type id) {
  return id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING;
}

bool IsBinaryLike(arrow::Type::type id) {
  return id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY;
}

// Integers of at most `bits` bits convert to a float exactly.
bool FitsFloatExactly(const arrow::DataType& from, int bits) {
  return arrow::is_integer(from.id()) && from.bit_width() <= bits;
}

bool Convertible(const arrow::DataType& put, const arrow::DataType& stored) {
  if (put.Equals(stored)) return true;
  if (put.id() == arrow::Type::DICTIONARY) {
    return Convertible(*static_cast<const arrow::DictionaryType&>(put).value_type(), stored);
  }
  const auto from = put.id();
  const auto to = stored.id();
  if (IsStringLike(from)) return IsStringLike(to);
  if (IsBinaryLike(from)) return IsBinaryLike(to);
  if (arrow::is_integer(from) && arrow::is_integer(to)) return true;
  if (arrow::is_floating(from) && arrow::is_floating(to)) {
    return put.bit_width() <= stored.bit_width();
  }
  if (to == arrow::Type::FLOAT) return FitsFloatExactly(put, 16);
  if (to == arrow::Type::DOUBLE) return FitsFloatExactly(put, 32);
  return false;
}

}  // namespace

arrow::Status CheckConvertible(std::string_view column, const arrow::DataType& put,
                               const arrow::DataType& stored, std::string_view dataset) {
  if (Convertible(put, stored)) return arrow::Status::OK();
  return arrow::Status::Invalid(
      "column '", column, "' has type ", put.ToString(), " in this batch but ", stored.ToString(),
      " in dataset '", dataset,
      "', and no safe conversion turns one into the other (accepted: ", kSafeConversions, ")");
}

arrow::Result<std::shared_ptr<arrow::Array>> ConvertColumn(
    const std::shared_ptr<arrow::Array>& array, std::string_view column,
    const std::shared_ptr<arrow::DataType>& stored, std::string_view dataset) {
  if (array->type()->Equals(*stored)) return array;
  auto cast = arrow::compute::Cast(*array, stored, arrow::compute::CastOptions::Safe());
  if (!cast.ok()) {
    return arrow::Status::Invalid(
        "column '", column, "' has type ", array->type()->ToString(), " in this batch but ",
        stored->ToString(), " in dataset '", dataset,
        "', and a value does not convert safely: ", cast.status().message());
  }
  return cast.MoveValueUnsafe();
}

bool IsVariableSizeList(const arrow::DataType& type) {
  return type.id() == arrow::Type::LIST || type.id() == arrow::Type::LARGE_LIST;
}

arrow::Result<std::shared_ptr<arrow::Array>> VectorsToFixedSize(
    const std::shared_ptr<arrow::Array>& array, std::string_view column, int32_t dim) {
  const auto& value_field = static_cast<const arrow::BaseListType&>(*array->type()).value_field();
  auto cast = arrow::compute::Cast(*array, arrow::fixed_size_list(value_field, dim),
                                   arrow::compute::CastOptions::Safe());
  if (!cast.ok()) {
    return arrow::Status::Invalid("vector column '", column, "' is a ", array->type()->ToString(),
                                  " whose vectors must all have the dataset's width ", dim, ": ",
                                  cast.status().message());
  }
  return cast.MoveValueUnsafe();
}

}  // namespace arbalest
