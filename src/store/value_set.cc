#include "store/value_set.h"

#include <arrow/array/builder_base.h>
#include <arrow/builder.h>
#include <arrow/compute/cast.h>
#include <arrow/status.h>

#include "store/filter.h"

namespace arbalest {
namespace {

namespace cp = arrow::compute;

// Whether one cast of an array of `kind` (int64, uint64, float64 or utf8) to `type` converts
// exactly as LiteralToScalar does value by value (which casts a scalar of the same type with
// the same options, except in these cases).
bool CastMatchesOneByOne(const arrow::DataType& type, arrow::Type::type kind) {
  switch (type.id()) {
    case arrow::Type::BOOL:
      return false;  // one by one, only the numbers 0 and 1 convert; a cast takes any
    case arrow::Type::TIMESTAMP:
      return kind == arrow::Type::INT64;  // strings are parsed with or without a UTC offset
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
      return kind == arrow::Type::STRING;  // numbers are printed as JSON writes them
    default:
      return true;
  }
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSet(const FilterValueList& values,
                                                          const arrow::Field& field) {
  if (values.alike && values.alike->length() > 0 &&
      CastMatchesOneByOne(*field.type(), values.alike->type_id())) {
    InitializeComputeOnce();
    auto cast = cp::Cast(*values.alike, field.type(), cp::CastOptions::Safe());
    if (cast.ok()) return *cast;
    // Some value does not convert: the one-by-one path names it.
  }
  return MakeValueSetOneByOne(values, field);
}

arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSetOneByOne(const FilterValueList& values,
                                                                  const arrow::Field& field) {
  ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(field.type()));
  const int64_t size = values.size();
  for (int64_t i = 0; i < size; ++i) {
    ARROW_ASSIGN_OR_RAISE(FilterLiteral literal, values.At(i));
    if (!literal->is_valid) {
      return arrow::Status::Invalid(
          "filter on '", field.name(),
          "': null inside an 'in' list; use {\"op\":\"=\",\"value\":null}");
    }
    ARROW_ASSIGN_OR_RAISE(auto scalar, LiteralToScalar(*literal, field));
    ARROW_RETURN_NOT_OK(builder->AppendScalar(*scalar));
  }
  return builder->Finish();
}

}  // namespace arbalest
