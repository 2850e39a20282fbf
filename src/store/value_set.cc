#include "store/value_set.h"

#include <arrow/array/builder_base.h>
#include <arrow/builder.h>
#include <arrow/compute/cast.h>
#include <arrow/status.h>

#include <cstdint>
#include <string>

#include "store/filter.h"

namespace arbalest {
namespace {

namespace cp = arrow::compute;

// The kind all values of a JSON list share, as the one-by-one conversion tells them apart.
enum class ListKind { kSigned, kUnsigned, kFloat, kString, kMixed };

ListKind KindOf(const Json& values) {
  bool integers = false, floats = false, strings = false, negative = false, beyond_int64 = false;
  for (const auto& value : values) {
    if (value.is_number_unsigned()) {
      integers = true;
      beyond_int64 |= value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    } else if (value.is_number_integer()) {
      integers = true;
      negative = true;
    } else if (value.is_number_float()) {
      floats = true;
    } else if (value.is_string()) {
      strings = true;
    } else {
      return ListKind::kMixed;  // null, boolean, array or object
    }
  }
  if (integers + floats + strings != 1 || (negative && beyond_int64)) return ListKind::kMixed;
  if (integers) return beyond_int64 ? ListKind::kUnsigned : ListKind::kSigned;
  return floats ? ListKind::kFloat : ListKind::kString;
}

// Whether one cast of a `kind` array to `type` converts exactly as JsonToScalar does value by
// value (which casts a scalar of the same type with the same options, except in these cases).
bool CastMatchesOneByOne(const arrow::DataType& type, ListKind kind) {
  switch (type.id()) {
    case arrow::Type::BOOL:
      return false;  // one by one, only the numbers 0 and 1 convert; a cast takes any
    case arrow::Type::TIMESTAMP:
      return kind == ListKind::kSigned;  // strings are parsed with or without a UTC offset
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
      return kind == ListKind::kString;  // numbers are printed by the JSON writer
    default:
      return kind != ListKind::kMixed;
  }
}

template <class Builder, class Value>
arrow::Result<std::shared_ptr<arrow::Array>> BuildNumbers(const Json& values) {
  Builder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
  for (const auto& value : values) builder.UnsafeAppend(value.template get<Value>());
  return builder.Finish();
}

arrow::Result<std::shared_ptr<arrow::Array>> BuildStrings(const Json& values) {
  arrow::StringBuilder builder;
  int64_t bytes = 0;
  for (const auto& value : values) bytes += value.get_ref<const std::string&>().size();
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
  ARROW_RETURN_NOT_OK(builder.ReserveData(bytes));
  for (const auto& value : values) builder.UnsafeAppend(value.get_ref<const std::string&>());
  return builder.Finish();
}

// `values`, all of `kind` (not kMixed), as an Arrow array of their own type.
arrow::Result<std::shared_ptr<arrow::Array>> BuildArray(const Json& values, ListKind kind) {
  switch (kind) {
    case ListKind::kSigned:
      return BuildNumbers<arrow::Int64Builder, int64_t>(values);
    case ListKind::kUnsigned:
      return BuildNumbers<arrow::UInt64Builder, uint64_t>(values);
    case ListKind::kFloat:
      return BuildNumbers<arrow::DoubleBuilder, double>(values);
    case ListKind::kString:
      return BuildStrings(values);
    case ListKind::kMixed:
      break;
  }
  return arrow::Status::UnknownError("no Arrow type for a mixed list");
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSet(const Json& values,
                                                          const arrow::Field& field) {
  const ListKind kind = KindOf(values);
  if (!values.empty() && CastMatchesOneByOne(*field.type(), kind)) {
    InitializeComputeOnce();
    ARROW_ASSIGN_OR_RAISE(auto array, BuildArray(values, kind));
    auto cast = cp::Cast(*array, field.type(), cp::CastOptions::Safe());
    if (cast.ok()) return *cast;
    // Some value does not convert: the one-by-one path names it.
  }
  return MakeValueSetOneByOne(values, field);
}

arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSetOneByOne(const Json& values,
                                                                  const arrow::Field& field) {
  ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(field.type()));
  for (const auto& value : values) {
    if (value.is_null()) {
      return arrow::Status::Invalid(
          "filter on '", field.name(),
          "': null inside an 'in' list; use {\"op\":\"=\",\"value\":null}");
    }
    ARROW_ASSIGN_OR_RAISE(auto scalar, JsonToScalar(value, field));
    ARROW_RETURN_NOT_OK(builder->AppendScalar(*scalar));
  }
  return builder->Finish();
}

}  // namespace arbalest
