#include "store/id_lookup.h"

#include <arrow/builder.h>
#include <arrow/chunked_array.h>
#include <arrow/compute/api.h>
#include <arrow/status.h>

#include "store/filter.h"

namespace arbalest {

arrow::Result<std::shared_ptr<arrow::Array>> IdsToArray(const arrow::ScalarVector& ids, bool single,
                                                        const Dataset& dataset,
                                                        std::string_view key) {
  const auto id_field = dataset.schema()->GetFieldByName(std::string(kIdColumn));
  ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(id_field->type()));
  ARROW_RETURN_NOT_OK(builder->Reserve(static_cast<int64_t>(ids.size())));
  for (size_t i = 0; i < ids.size(); ++i) {
    const arrow::Scalar& id = *ids[i];
    auto scalar = id.is_valid ? LiteralToScalar(id, *id_field) : arrow::Status::Invalid("null");
    if (!scalar.ok()) {
      const std::string entry = single ? "" : " entry " + std::to_string(i);
      return arrow::Status::Invalid("'", key, "'", entry, " (", LiteralForMessage(id),
                                    ") is not an id of dataset '", dataset.name(),
                                    "', whose ids are ", id_field->type()->ToString());
    }
    ARROW_RETURN_NOT_OK(builder->AppendScalar(**scalar));
  }
  return builder->Finish();
}

arrow::Result<Roaring> LiveRowsWithIds(const DatasetSnapshot& snapshot, const arrow::Array& ids) {
  Roaring rows;
  if (snapshot.batches.empty() || ids.length() == 0) return rows;
  InitializeComputeOnce();
  const int id_column = snapshot.schema->GetFieldIndex(std::string(kIdColumn));
  arrow::ArrayVector chunks;
  chunks.reserve(snapshot.batches.size());
  for (const auto& batch : snapshot.batches) chunks.push_back(batch->column(id_column));
  ARROW_ASSIGN_OR_RAISE(auto column, arrow::ChunkedArray::Make(std::move(chunks)));
  // One call over every chunk: the value set is hashed once.
  ARROW_ASSIGN_OR_RAISE(
      arrow::Datum found,
      arrow::compute::IsIn(
          column, arrow::compute::SetLookupOptions(ids, arrow::compute::SetLookupOptions::SKIP)));
  uint32_t first = 0;
  for (const auto& chunk : found.chunked_array()->chunks()) {
    const auto& bits = static_cast<const arrow::BooleanArray&>(*chunk);
    if (bits.true_count() > 0) {
      for (int64_t i = 0; i < bits.length(); ++i) {
        if (bits.Value(i)) rows.add(first + static_cast<uint32_t>(i));
      }
    }
    first += static_cast<uint32_t>(bits.length());
  }
  Roaring live;
  for (const uint32_t row : rows) {
    if (!snapshot.IsDeleted(row)) live.add(row);
  }
  return live;
}

arrow::Result<Roaring> LiveRowsWithIds(const Dataset& dataset, const arrow::Array& ids,
                                       DatasetSnapshot* snapshot) {
  ARROW_ASSIGN_OR_RAISE(std::optional<Dataset::MappedRows> mapped, dataset.MappedRowsOf(ids));
  if (!mapped) {
    *snapshot = dataset.Snapshot();
    return LiveRowsWithIds(*snapshot, ids);
  }
  *snapshot = std::move(mapped->snapshot);
  Roaring live;
  for (const uint32_t row : mapped->rows) {
    if (static_cast<int64_t>(row) < snapshot->num_rows && !snapshot->IsDeleted(row)) live.add(row);
  }
  return live;
}

}  // namespace arbalest
