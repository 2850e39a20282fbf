// Record batches for tests: vectors with ids and a little metadata, built the way a client would.
#pragma once

#include <arrow/api.h>

#include <cstdint>
#include <memory>
#include <string>

namespace arbalest::testing {

// A batch of `rows` float32 vectors of width `dim` with int64 ids starting at `first_id`, and a
// utf8 `tag` ("tag<id % 3>") and float64 `score` (id / 2.0) column. Vector element j of row i
// is id + j / 1000.
std::shared_ptr<arrow::RecordBatch> MakeVectorBatch(int64_t first_id, int64_t rows, int32_t dim);

// The same rows without the id column.
std::shared_ptr<arrow::RecordBatch> WithoutIds(const std::shared_ptr<arrow::RecordBatch>& batch);

// Fixed-size-list vectors of `type` with every element equal to `value`.
std::shared_ptr<arrow::Array> ConstantVectors(const std::shared_ptr<arrow::DataType>& type,
                                              int64_t rows, int32_t dim, double value);

}  // namespace arbalest::testing
