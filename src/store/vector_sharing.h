// Vector sharing: a dataset's rows and its HNSW graph hold the same vectors. Once rows are
// indexed, the graph's copy is byte for byte the batches' vector column (for every element type
// and metric but cosine over floats, whose rows the graph normalizes), so the batches can point
// their vector column at the graph's memory and let the received copy go: the dataset then
// holds its vectors once, not twice. The other columns are copied out of the received message
// on the way (an Arrow IPC message's buffers all keep its whole body alive), and runs of small
// batches come out joined, so this is also where a stream of small puts becomes few batches.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "index/index_rows.h"

namespace arbalest {

// Batches rebuilt over shared vectors, and the bytes of the graph's own (allocated, not mapped)
// memory they lend: what the dataset must stop charging twice.
struct SharedBatches {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t lent_allocated_bytes = 0;
};

// `batches`, whose rows are the graph's rows [first_row, first_row + their rows), rebuilt so that
// their column `vector_column` is a view of `rows`' vectors and every other column is a fresh
// copy: cut where `rows`' chunks end (a view is one run of memory) and where the schema changes,
// joined otherwise. Every row must be in `rows`. nullopt when the vectors cannot be shared: the
// graph's bytes differ from the batches' (a normalized copy), or the graph's rows are padded.
arrow::Result<std::optional<SharedBatches>> ShareVectors(
    std::span<const std::shared_ptr<arrow::RecordBatch>> batches, int64_t first_row,
    int vector_column, const IndexRows& rows);

// A copy of `batch` whose buffers hold its rows only: a slice of a large batch that no longer
// keeps the whole batch alive.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CompactCopy(const arrow::RecordBatch& batch);

// A fixed-size-list column of `list_type` whose `rows` vectors are the bytes at `data`, back to
// back, which `owner` keeps alive (a graph's chunk, a mapped vectors file): no copy.
std::shared_ptr<arrow::Array> VectorView(const std::shared_ptr<arrow::DataType>& list_type,
                                         const uint8_t* data, int64_t rows,
                                         std::shared_ptr<const void> owner);

// The bytes of row `row`'s vector in `batch`'s fixed-size-list column `vector_column`.
const uint8_t* VectorBytes(const arrow::RecordBatch& batch, int vector_column, int64_t row);

}  // namespace arbalest
