// Arrow values as JSON, for the actions whose replies are JSON documents (HybridSearch,
// VectorSearchByID): ids, the stored columns a request asks for, and vectors.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>

#include <cstdint>

#include "common/json_util.h"

namespace arbalest {

// The value of `array` at `row`: null, a boolean, a number (integers exact, float16 widened),
// a string, or an array for list columns (vectors). Other types (dates, decimals, binary, ...)
// as the string Arrow renders for them.
Json ValueToJson(const arrow::Array& array, int64_t row);

// Every value of `array`, as a JSON array.
Json ValuesToJson(const arrow::Array& array);

// The columns of `batch` from `first_column` on, as members of `object` named after the
// columns, for row `row` (a search hit's stored columns).
void AddColumnsToJson(const arrow::RecordBatch& batch, int first_column, int64_t row, Json* object);

}  // namespace arbalest
