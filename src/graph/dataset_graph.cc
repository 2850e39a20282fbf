#include "graph/dataset_graph.h"

namespace arbalest {

arrow::Result<int64_t> DatasetGraph::Reserve(int64_t edges) {
  const int64_t bytes = log_.BytesFor(edges);
  std::lock_guard lock(memory_mutex_);
  if (cleared_) return arrow::Status::KeyError("the dataset was deleted");
  if (memory_.charge) ARROW_RETURN_NOT_OK(memory_.charge(bytes));
  charged_ += bytes;
  return bytes;
}

void DatasetGraph::Adjust(int64_t delta) {
  std::lock_guard lock(memory_mutex_);
  if (cleared_ || delta == 0) return;  // Clear gave back everything charged before it
  if (memory_.adjust) memory_.adjust(delta);
  charged_ += delta;
}

void DatasetGraph::Unreserve(int64_t bytes) { Adjust(-bytes); }

void DatasetGraph::Append(const EdgeRows& rows, int64_t reserved) {
  const int64_t grown = log_.Append(rows);
  Adjust(grown - reserved);  // from what was reserved to what the log grew by
}

int64_t DatasetGraph::RemoveNodes(const std::unordered_set<int64_t>& ids) {
  int64_t freed = 0;
  const int64_t removed = log_.RemoveNodes(ids, &freed);
  Adjust(-freed);
  return removed;
}

std::shared_ptr<const EdgeGraph> DatasetGraph::Adjacency() {
  std::lock_guard lock(build_mutex_);
  const EdgeCut cut = log_.Cut();
  if (built_ && built_->version() == cut.version) return built_;
  built_ = EdgeGraph::Build(cut);
  const int64_t bytes = built_->bytes();
  Adjust(bytes - built_bytes_);
  built_bytes_ = bytes;
  return built_;
}

std::shared_ptr<const Communities> DatasetGraph::CommunitiesOf(
    const std::shared_ptr<const EdgeGraph>& adjacency) {
  std::lock_guard lock(communities_mutex_);
  if (communities_ && communities_of_.lock() == adjacency) return communities_;
  communities_ = std::make_shared<const Communities>(PropagateLabels(*adjacency));
  communities_of_ = adjacency;
  // Derived from accepted edges: charged, never refused.
  const auto bytes = static_cast<int64_t>(communities_->label.capacity() * sizeof(uint32_t));
  Adjust(bytes - communities_bytes_);
  communities_bytes_ = bytes;
  return communities_;
}

void DatasetGraph::Clear() {
  std::lock_guard lock(memory_mutex_);
  if (cleared_) return;
  cleared_ = true;
  if (memory_.adjust) memory_.adjust(-charged_);
  charged_ = 0;
}

}  // namespace arbalest
