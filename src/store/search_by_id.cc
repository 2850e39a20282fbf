#include "store/search_by_id.h"

#include <arrow/scalar.h>
#include <arrow/status.h>

#include "store/id_lookup.h"

namespace arbalest {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDatasetById(const Dataset& dataset,
                                                                     const arrow::Array& id,
                                                                     SearchRequest request) {
  const DatasetSnapshot snapshot = dataset.Snapshot();
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(snapshot, id));
  if (rows.isEmpty()) {
    ARROW_ASSIGN_OR_RAISE(auto scalar, id.GetScalar(0));
    return arrow::Status::KeyError("id ", scalar->ToString(), " not found in dataset '",
                                   dataset.name(), "'");
  }
  const int64_t row = rows.minimum();
  int64_t batch_start = 0;
  for (const auto& batch : snapshot.batches) {
    if (row < batch_start + batch->num_rows()) {
      request.query.clear();
      AppendVectorsAsFloat(*batch, dataset.vector_column(), row - batch_start,
                           row - batch_start + 1, &request.query);
      break;
    }
    batch_start += batch->num_rows();
  }
  request.excluded_rows |= rows;
  return SearchDataset(dataset, request);
}

}  // namespace arbalest
