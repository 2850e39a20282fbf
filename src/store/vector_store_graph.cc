// VectorStore's graph edges: logged like the dataset's other changes, published in its order.
#include <arrow/array.h>
#include <spdlog/spdlog.h>

#include "graph/edge_batch.h"
#include "store/dataset_edges.h"
#include "store/vector_store.h"

namespace arbalest {

arrow::Result<int64_t> VectorStore::AddEdges(Dataset& dataset, const arrow::RecordBatch& edges) {
  ARROW_RETURN_NOT_OK(CheckGraphIds(dataset));
  if (edges.num_rows() == 0) return arrow::Status::Invalid("no edges given");
  ARROW_ASSIGN_OR_RAISE(auto canonical, ConformEdges(edges));
  // Held from the check of the endpoints until the edges are published, as a delete holds it
  // from resolving its rows until their edges are gone: a delete comes wholly before the check
  // (which then refuses its ids) or wholly after the append (and removes the new edges), in the
  // log as in memory, so an edge never names a deleted row, before or after a restart.
  MutexLock deletes(&dataset.delete_mutex());
  ARROW_RETURN_NOT_OK(CheckEdgeEndpoints(dataset.Snapshot(), *canonical, dataset.name()));
  ARROW_ASSIGN_OR_RAISE(const int64_t reserved, dataset.graph().Reserve(canonical->num_rows()));
  auto change = LogChange(
      dataset, [&](int64_t) { return EncodeEdges(dataset.name(), *canonical); }, 0);
  if (!change.ok()) {
    dataset.graph().Unreserve(reserved);
    return change.status();
  }
  const EdgeRows rows = EdgeRowsOf(*canonical);
  dataset.PublishBeside(
      change->turn, [&] { dataset.graph().Append(rows, reserved); }, change->lsn);
  return canonical->num_rows();
}

void VectorStore::RemoveEdgesOf(Dataset& dataset, const arrow::Array& ids) {
  if (dataset.graph().empty()) return;
  if (ids.type_id() != arrow::Type::INT64 && ids.type_id() != arrow::Type::UINT64) return;
  std::unordered_set<int64_t> removed;
  const auto* values = ids.data()->GetValues<int64_t>(1);
  for (int64_t i = 0; i < ids.length(); ++i) {
    if (ids.IsValid(i)) removed.insert(values[i]);
  }
  const int64_t edges = dataset.graph().RemoveNodes(removed);
  if (edges > 0)
    spdlog::debug("dataset '{}': {} edges of deleted rows removed", dataset.name(), edges);
}

arrow::Status VectorStore::ApplyEdgesLogged(Dataset& dataset, const WalEntry& entry) {
  if (!entry.batch || !entry.batch->schema()->Equals(*EdgeSchema())) {
    return arrow::Status::Invalid("WAL record ", entry.lsn, " logs edges of dataset '",
                                  entry.dataset, "' in an unknown layout");
  }
  uint64_t turn;
  {
    MutexLock order(&dataset.append_mutex());
    turn = dataset.TakeTurn();
    dataset.NoteLogged(entry.lsn);
  }
  const EdgeRows rows = EdgeRowsOf(*entry.batch);
  dataset.PublishBeside(
      turn, [&] { dataset.graph().Append(rows, 0); }, entry.lsn);
  return arrow::Status::OK();
}

}  // namespace arbalest
