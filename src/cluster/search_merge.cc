#include "cluster/search_merge.h"

#include <arrow/compute/api_vector.h>
#include <arrow/table.h>

#include <algorithm>

#include "store/filter.h"

namespace arbalest {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CombineParts(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts) {
  if (parts.empty()) return arrow::Status::Invalid("nothing to merge");
  const auto schema = parts.front()->schema()->RemoveMetadata();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const auto& part : parts) {
    if (!part->schema()->Equals(*schema, /*check_metadata=*/false)) {
      return arrow::Status::Invalid("search results of different columns cannot be merged: ",
                                    part->schema()->ToString(), " vs ", schema->ToString());
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, part->ReplaceSchema(schema));
    batches.push_back(std::move(batch));
  }
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(schema, batches));
  return table->CombineChunksToBatch();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> MergeTopK(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& parts, int64_t k) {
  InitializeComputeOnce();
  ARROW_ASSIGN_OR_RAISE(auto all, CombineParts(parts));
  const auto score = all->schema()->GetFieldByName("score");
  if (!score || score->type()->id() != arrow::Type::FLOAT) {
    return arrow::Status::Invalid("search results need a float32 'score' column: ",
                                  all->schema()->ToString());
  }
  // SortIndices is stable: equal scores keep the order of `parts`.
  arrow::compute::SortOptions order(
      {arrow::compute::SortKey("score", arrow::compute::SortOrder::Descending)});
  ARROW_ASSIGN_OR_RAISE(auto indices, arrow::compute::SortIndices(arrow::Datum(all), order));
  ARROW_ASSIGN_OR_RAISE(
      auto best, arrow::compute::Take(arrow::Datum(all), arrow::Datum(indices->Slice(
                                                             0, std::min(k, indices->length())))));
  return best.record_batch();
}

}  // namespace arbalest
