// Rows by id, for deletes and searches by id. Ids as a request gives them (literals parsed by
// src/flight: integers, numbers and strings, store/filter_expr.h) are converted to the dataset's
// id type. A dataset whose ids are unique answers through its id map (store/id_row_map.h),
// O(ids); any other dataset keeps no id map (so an id lookup never slows its ingestion down)
// and finds the rows with Arrow compute, is_in over the whole id column, O(rows).
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

// The same rows of `dataset` as it is now, numbered as `*snapshot`, which it sets: found through
// the dataset's id map when its ids are unique (Dataset::MappedRowsOf: the same rows as is_in
// would find, since every row of an id but its latest is deleted), else with is_in over a
// fresh snapshot.
arrow::Result<Roaring> LiveRowsWithIds(const Dataset& dataset, const arrow::Array& ids,
                                       DatasetSnapshot* snapshot);

}  // namespace arbalest
