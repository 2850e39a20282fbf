// Search by id (the VectorSearchByID action): the nearest neighbours of a stored row, found by
// the row's id instead of a query vector.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>

#include "store/dataset.h"
#include "store/search.h"

namespace arbalest {

// The request.k nearest live rows to the vector of the row whose id is `id` (a one-element
// array of the dataset's id type: IdsToArray), as SearchDataset returns them. The query is
// the first live row carrying the id; every row carrying it is left out of the result, so a
// row is never its own neighbour. request.query is ignored. KeyError naming the id when no
// live row carries it; otherwise the errors of SearchDataset.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDatasetById(const Dataset& dataset,
                                                                     const arrow::Array& id,
                                                                     SearchRequest request);

}  // namespace arbalest
