// Rows by id, for deletes and searches by id. Ids as a request gives them (literals parsed by
// src/flight: integers, numbers and strings, store/filter_expr.h) are converted to the dataset's
// id type, and the rows carrying them are found with Arrow compute (is_in over the id column)
// when asked: puts maintain no id map, so an id lookup never slows ingestion down.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/scalar.h>

#include <memory>
#include <roaring/roaring.hh>
#include <string_view>

#include "store/dataset.h"
#include "store/filter_expr.h"

namespace arbalest {

// `ids` (FilterLiterals; `single`: the request gave one id, not a list) as an array of
// `dataset`'s id type (int64, uint64 or utf8). `key` names the request's key in errors. Invalid,
// naming the value (and its entry in a list), for a value that does not convert (1.5 or -1 for
// uint64 ids, "abc" for int64 ids, null).
arrow::Result<std::shared_ptr<arrow::Array>> IdsToArray(const arrow::ScalarVector& ids, bool single,
                                                        const Dataset& dataset,
                                                        std::string_view key);

// The live rows of `snapshot` (dataset row numbers; deleted rows left out) whose id is in
// `ids`, an array of the dataset's id type. Every row carrying one of the ids is found: ids
// need not be unique.
arrow::Result<Roaring> LiveRowsWithIds(const DatasetSnapshot& snapshot, const arrow::Array& ids);

}  // namespace arbalest
