// The protocol's filters (a JSON list of {"field","op","value"} nodes, ANDed, with
// {"logic":"and"|"or"|"not","filters":[...]} nesting) compiled into Arrow compute
// expressions. Filtering itself is done by Arrow compute kernels, never by hand.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/scalar.h>

#include <cstddef>
#include <memory>

#include "common/json_util.h"

namespace arbalest {

// The most values the 'in' and 'not in' lists of one request's filters may hold together. A
// million int64 values cost about 0.1 s to parse and compile (docs/benchmarks.md) and 8 MB of
// request; beyond that a client is better served by filtering on a column that groups rows.
inline constexpr size_t kMaxFilterValues = 1'000'000;

// Compiles `filters` (an array of filter nodes, ANDed, or a single node object) into an
// expression bound to `schema`. Values are converted to the column's type. Errors (all
// arrow::Status::Invalid): unknown key in a node, unknown operator, a field missing from
// `schema` (named), a value that does not convert to the column's type (named with the
// field and type), an operator that does not apply to the column's type, more than
// kMaxFilterValues values in lists. An empty array compiles to literal(true).
arrow::Result<arrow::compute::Expression> CompileFilter(const Json& filters,
                                                        const arrow::Schema& schema);

// The rows of `batch` for which `filter` (compiled for batch's schema) is true; rows where it
// is null are dropped, as in SQL.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ApplyFilter(
    const arrow::compute::Expression& filter, const std::shared_ptr<arrow::RecordBatch>& batch);

// Converts a JSON string, number or boolean to a scalar of exactly `field`'s type, the way
// filter values are converted (Arrow's safe cast: strings parse into numbers, numbers print
// into strings). Invalid, naming the field, the value and the type, when it does not convert
// (1.5 or -1 to uint64, "abc" to int64).
arrow::Result<std::shared_ptr<arrow::Scalar>> JsonToScalar(const Json& value,
                                                           const arrow::Field& field);

// Registers Arrow's compute kernels (a separate library since Arrow 21), once. CompileFilter
// and JsonToScalar call it; other code that runs compute functions first must too.
void InitializeComputeOnce();

}  // namespace arbalest
