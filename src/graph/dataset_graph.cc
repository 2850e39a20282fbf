#include "graph/dataset_graph.h"

namespace arbalest {

arrow::Result<int64_t> DatasetGraph::Reserve(int64_t edges) {
  const int64_t bytes = log_.BytesFor(edges);
  if (memory_.charge) ARROW_RETURN_NOT_OK(memory_.charge(bytes));
  charged_.fetch_add(bytes);
  return bytes;
}

void DatasetGraph::Unreserve(int64_t bytes) {
  if (memory_.adjust) memory_.adjust(-bytes);
  charged_.fetch_sub(bytes);
}

void DatasetGraph::Append(const EdgeRows& rows, int64_t reserved) {
  const int64_t grown = log_.Append(rows);
  // Bring the charge from what was reserved to what the log grew by.
  if (memory_.adjust && !cleared_) memory_.adjust(grown - reserved);
  charged_.fetch_add(grown - reserved);
}

int64_t DatasetGraph::RemoveNodes(const std::unordered_set<int64_t>& ids) {
  int64_t freed = 0;
  const int64_t removed = log_.RemoveNodes(ids, &freed);
  if (freed != 0) {
    if (memory_.adjust && !cleared_) memory_.adjust(-freed);
    charged_.fetch_sub(freed);
  }
  return removed;
}

std::shared_ptr<const EdgeGraph> DatasetGraph::Adjacency() {
  std::lock_guard lock(build_mutex_);
  const EdgeCut cut = log_.Cut();
  if (built_ && built_->version() == cut.version) return built_;
  built_ = EdgeGraph::Build(cut);
  const int64_t bytes = built_->bytes();
  if (memory_.adjust && !cleared_) memory_.adjust(bytes - built_bytes_);
  charged_.fetch_add(bytes - built_bytes_);
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
  if (memory_.adjust && !cleared_) memory_.adjust(bytes - communities_bytes_);
  charged_.fetch_add(bytes - communities_bytes_);
  communities_bytes_ = bytes;
  return communities_;
}

void DatasetGraph::Clear() {
  if (cleared_.exchange(true)) return;
  if (memory_.adjust) memory_.adjust(-charged_.exchange(0));
}

}  // namespace arbalest
