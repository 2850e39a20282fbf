#include "graph/edge_graph.h"

#include <algorithm>

namespace arbalest {
namespace {

// Counting sort of edge numbers by `key`: offsets (nodes + 1) and the edges in key order.
void BuildRows(const std::vector<uint32_t>& key, size_t nodes, std::vector<uint32_t>* offsets,
               std::vector<uint32_t>* edges) {
  offsets->assign(nodes + 1, 0);
  for (uint32_t node : key) ++(*offsets)[node + 1];
  for (size_t i = 0; i < nodes; ++i) (*offsets)[i + 1] += (*offsets)[i];
  edges->resize(key.size());
  std::vector<uint32_t> next(offsets->begin(), offsets->end() - 1);
  for (uint32_t edge = 0; edge < key.size(); ++edge) (*edges)[next[key[edge]]++] = edge;
}

template <typename T>
int64_t VectorBytes(const std::vector<T>& values) {
  return static_cast<int64_t>(values.capacity() * sizeof(T));
}

}  // namespace

std::shared_ptr<const EdgeGraph> EdgeGraph::Build(const EdgeCut& cut) {
  auto graph = std::make_shared<EdgeGraph>();
  const auto count = static_cast<size_t>(cut.count);
  graph->predicates_ =
      cut.predicates ? cut.predicates : std::make_shared<const std::vector<std::string>>();
  graph->version_ = cut.version;
  std::vector<int64_t>& ids = graph->node_ids_;
  ids.reserve(count * 2);
  for (int64_t i = 0; i < cut.count; ++i) {
    ids.push_back(cut.at(i).subject);
    ids.push_back(cut.at(i).object);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  ids.shrink_to_fit();
  graph->subject_.resize(count);
  graph->object_.resize(count);
  graph->weight_.resize(count);
  graph->predicate_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const Edge& edge = cut.at(static_cast<int64_t>(i));
    graph->subject_[i] = *graph->NodeOf(edge.subject);
    graph->object_[i] = *graph->NodeOf(edge.object);
    graph->weight_[i] = edge.weight;
    graph->predicate_[i] = edge.predicate;
  }
  BuildRows(graph->subject_, ids.size(), &graph->out_offsets_, &graph->out_);
  BuildRows(graph->object_, ids.size(), &graph->in_offsets_, &graph->in_);
  return graph;
}

std::optional<uint32_t> EdgeGraph::NodeOf(int64_t id) const {
  auto it = std::lower_bound(node_ids_.begin(), node_ids_.end(), id);
  if (it == node_ids_.end() || *it != id) return std::nullopt;
  return static_cast<uint32_t>(it - node_ids_.begin());
}

int64_t EdgeGraph::bytes() const {
  return VectorBytes(node_ids_) + VectorBytes(subject_) + VectorBytes(object_) +
         VectorBytes(predicate_) + VectorBytes(weight_) + VectorBytes(out_offsets_) +
         VectorBytes(out_) + VectorBytes(in_offsets_) + VectorBytes(in_);
}

}  // namespace arbalest
