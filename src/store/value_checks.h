// The checks a put's values must pass, beyond its schema (dataset_layout.h): every column is
// structurally valid Arrow and its strings valid UTF-8 (a JSON reply could not carry them), and
// every vector element is finite (a NaN or infinite element makes every distance to the row NaN,
// so no search would ever return it). Run on the put path only, before the batch is logged;
// rows stored by older builds are not checked again on replay.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <string_view>

namespace arbalest {

// Arrow's full validation of `column` (offsets, dictionary indices, UTF-8 of utf8, large_utf8
// and utf8_view values, at any depth). Invalid naming `name` and, for utf8 and large_utf8
// columns and dictionaries of them, the first row (0-based in the batch) whose value is not
// valid UTF-8; for other failures, Arrow's own message.
arrow::Status CheckColumnValues(const arrow::Array& column, std::string_view name);

// A client's batch made safe to read, before anything reads its values: structurally valid
// (Arrow's Validate: buffer counts and sizes), every buffer aligned for its type (Arrow's IPC
// reader leaves buffers where the message put them, and a writer may misalign them: those are
// copied, the rest kept as they are; a pyarrow client's are aligned), then checked whole
// (ValidateFull: offsets inside their buffers, dictionary indices, UTF-8). Invalid starting
// "malformed batch: ", with CheckColumnValues's message naming the column (and the row, for
// invalid UTF-8) when one column is at fault, else Arrow's.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CheckClientBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch);

// Checks that every element of `stored` (the vector column's flat values as stored: float32 or
// float16; other element types pass) is finite. `put` is the same values as the client sent
// them (float64 before narrowing, or `stored` itself), for the message. Invalid naming
// `column`, the first bad row (0-based in the batch, `dim` elements per row), the element and
// whether it is NaN, infinite, or a float64 beyond float32's range.
arrow::Status CheckFiniteVectors(const arrow::Array& stored, const arrow::Array& put, int32_t dim,
                                 std::string_view column);

}  // namespace arbalest
