// Typed filters (store/filter_expr.h) compiled into Arrow compute expressions bound to a
// schema: each literal converted to its column's type, each comparison an Arrow kernel call.
// Filtering itself is done by Arrow compute kernels, never by hand. Requests carry their
// filter as a CachedFilter (store/cached_filter.h), which compiles once per schema.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/scalar.h>

#include <memory>

#include "store/filter_expr.h"

namespace arbalest {

// Compiles `filter` into an expression bound to `schema`. Literals are converted to the
// column's type. Errors (all arrow::Status::Invalid): a field missing from `schema` (named,
// with the columns there are), a column of a type that cannot be filtered, a value that does
// not convert to the column's type (named with the field and type), an operator that does not
// apply to the column's type (contains on a number), null compared with an operator other than
// = and !=. The empty AND compiles to literal(true).
arrow::Result<arrow::compute::Expression> CompileFilter(const FilterExpr& filter,
                                                        const arrow::Schema& schema);

// The rows of `batch` for which `filter` (compiled for batch's schema) is true; rows where it
// is null are dropped, as in SQL.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ApplyFilter(
    const arrow::compute::Expression& filter, const std::shared_ptr<arrow::RecordBatch>& batch);

// Converts a literal (FilterLiteral: null, boolean, int64, uint64, float64 or string) to a
// scalar of exactly `field`'s type, the way filter values are converted (Arrow's safe cast:
// strings parse into numbers, numbers print into strings as JSON writes them, timestamps take
// integers in their unit or ISO-8601 strings). Invalid, naming the field, the value and the
// type, when it does not convert (1.5 or -1 to uint64, "abc" to int64, null).
arrow::Result<std::shared_ptr<arrow::Scalar>> LiteralToScalar(const arrow::Scalar& literal,
                                                              const arrow::Field& field);

// Registers Arrow's compute kernels (a separate library since Arrow 21), once. CompileFilter
// and LiteralToScalar call it; other code that runs compute functions first must too.
void InitializeComputeOnce();

}  // namespace arbalest
