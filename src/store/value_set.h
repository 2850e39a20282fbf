// The value set of an `in` / `not in` filter: its list of literals (FilterValueList, parsed by
// src/flight) converted to an Arrow array of the column's type, with the conversion of single
// filter values (LiteralToScalar, filter.h).
//
// Converting value by value costs a cast call each (~4 us: function lookup, kernel dispatch,
// a scalar), 4 s for a million values (docs/benchmarks.md). A list of like values (all
// integers, all non-integral numbers, or all strings), which the parser keeps as one Arrow
// array, is instead converted by one cast of the whole array: the same cast kernel, so the
// same values and the same refusals. Mixed lists, boolean and timestamp-from-string columns,
// and any list whose cast fails take the value-by-value path, which names the value that does
// not convert.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <memory>

#include "store/filter_expr.h"

namespace arbalest {

// `values` as an array of `field`'s type: by one cast when the values are alike, else value by
// value. Invalid naming the field and the value that does not convert.
arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSet(const FilterValueList& values,
                                                          const arrow::Field& field);

// The value-by-value conversion alone: what MakeValueSet falls back on, kept callable for the
// tests and the benchmark that compare the two.
arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSetOneByOne(const FilterValueList& values,
                                                                  const arrow::Field& field);

}  // namespace arbalest
