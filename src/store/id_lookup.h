// Rows by id, for deletes and searches by id. Ids given as JSON are converted to the dataset's
// id type, and the rows carrying them are found with Arrow compute (is_in over the id column)
// when asked: puts maintain no id map, so an id lookup never slows ingestion down.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>

#include <memory>
#include <roaring/roaring.hh>
#include <string_view>

#include "common/json_util.h"
#include "store/dataset.h"

namespace arbalest {

// `ids` (one id, or a JSON array of ids; ids are JSON numbers or strings) as an array of
// `dataset`'s id type (int64, uint64 or utf8). `key` names the JSON key in errors. Invalid,
// naming the value, for a null, an array or object as an id, or a value that does not convert
// (1.5 or -1 for uint64 ids, "abc" for int64 ids).
arrow::Result<std::shared_ptr<arrow::Array>> IdsFromJson(const Json& ids, const Dataset& dataset,
                                                         std::string_view key);

// The live rows of `snapshot` (dataset row numbers; deleted rows left out) whose id is in
// `ids`, an array of the dataset's id type. Every row carrying one of the ids is found: ids
// need not be unique.
arrow::Result<Roaring> LiveRowsWithIds(const DatasetSnapshot& snapshot, const arrow::Array& ids);

}  // namespace arbalest
