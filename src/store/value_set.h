// The value set of an `in` / `not in` filter: its JSON list converted to an Arrow array of the
// column's type, with the conversion of single filter values (JsonToScalar, filter.h).
//
// Converting value by value costs a cast call each (~4 us: function lookup, kernel dispatch,
// a scalar), 4 s for a million values (docs/benchmarks.md). A list of like values (all
// integers, all non-integral numbers, or all strings) is instead appended to one Arrow builder
// and converted by one cast of the whole array: the same cast kernel, so the same values and
// the same refusals. Mixed lists, boolean and timestamp-from-string columns, and any list whose
// cast fails take the value-by-value path, which names the value that does not convert.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <memory>

#include "common/json_util.h"

namespace arbalest {

// `values` (a JSON array) as an array of `field`'s type: by one cast when the values are alike,
// else value by value. Invalid naming the field for a null in the list or a value that does not
// convert (naming the value).
arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSet(const Json& values,
                                                          const arrow::Field& field);

// The value-by-value conversion alone: what MakeValueSet falls back on, kept callable for the
// benchmark that compares the two.
arrow::Result<std::shared_ptr<arrow::Array>> MakeValueSetOneByOne(const Json& values,
                                                                  const arrow::Field& field);

}  // namespace arbalest
