#include "store/search_by_id.h"

#include <arrow/scalar.h>
#include <arrow/status.h>

#include "store/id_lookup.h"

namespace arbalest {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SearchDatasetById(const Dataset& dataset,
                                                                     const arrow::Array& id,
                                                                     SearchRequest request) {
  DatasetSnapshot snapshot;
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(dataset, id, &snapshot));
  if (rows.isEmpty()) {
    ARROW_ASSIGN_OR_RAISE(auto scalar, id.GetScalar(0));
    return arrow::Status::KeyError("id ", scalar->ToString(), " not found in dataset '",
                                   dataset.name(), "'");
  }
  const RowLocation at = RowLocator(snapshot).Locate(rows.minimum());
  request.query.clear();
  AppendVectorsAsFloat(*snapshot.batches[at.batch], dataset.vector_column(), at.offset,
                       at.offset + 1, &request.query);
  request.excluded_rows |= rows;
  return SearchDataset(dataset, request);
}

}  // namespace arbalest
