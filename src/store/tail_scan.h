// The exact search of a dataset's rows not in its graph yet (the "tail": rows acked and
// published, which the index workers have not linked): read straight from the vector column
// buffers of the dataset's Arrow batches, with no copy of the rows into a temporary index.
//
// Contract:
//  - Rows are dataset rows, numbered across `batches` in order; the scan covers rows
//    [first_row, end_row) (a segment's unlinked rows), or [first_row, total rows) and returns the k
//    nearest that `filter` holds (when not null) and `exclude` does not (when not null), nearest
//    first, fewer only when fewer qualify.
//  - Distances are the index's, as its searches report them (DistanceSpace::Reported): a row
//    scores bit for bit what it scores once in the graph (or in a FlatIndex of the same space).
//    Rows stored as received (every space but cosine over float types) are compared in place by
//    the SIMD kernels of simd/distance.h, whatever their element type; for cosine over float
//    types, whose index stores normalized rows, the rows are normalized as the index does, in
//    small blocks on the stack.
//  - The batches' vector column must hold rows of the space's element type and dimension,
//    without nulls (what the dataset stores); Invalid otherwise, and for a query of another
//    width.
//  - Reads only: any number of scans may run at once over the same batches.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <span>
#include <vector>

#include "index/distance_space.h"
#include "index/top_k.h"

namespace arbalest {

struct TailScanRequest {
  std::span<const std::shared_ptr<arrow::RecordBatch>> batches;
  int vector_column = 0;
  int64_t first_row = 0;  // the first row not in the graph
  int64_t end_row = -1;   // the row after the last one scanned; -1: every row after first_row
  const Roaring* filter = nullptr;
  const Roaring* exclude = nullptr;
  // Bit b of `exclude` is row exclude_first_row + b (a segment's deleted local rows: its first
  // row); `filter` is in dataset rows.
  int64_t exclude_first_row = 0;
};

arrow::Result<std::vector<Neighbor>> ScanTail(const TailScanRequest& request,
                                              const DistanceSpace& space,
                                              std::span<const float> query, size_t k);

}  // namespace arbalest
