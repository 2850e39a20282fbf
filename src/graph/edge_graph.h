// Compact adjacency of a dataset's edges: compressed sparse rows in both directions over dense
// node numbers, built from an EdgeCut. Immutable once built; traversal and community detection
// read it without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "graph/edge_log.h"

namespace arbalest {

class EdgeGraph {
 public:
  // Builds the adjacency of `cut`'s edges: O(E log N).
  static std::shared_ptr<const EdgeGraph> Build(const EdgeCut& cut);

  int64_t num_nodes() const { return static_cast<int64_t>(node_ids_.size()); }
  int64_t num_edges() const { return static_cast<int64_t>(subject_.size()); }
  // The dense number of row id `id`, or nullopt when no edge names it.
  std::optional<uint32_t> NodeOf(int64_t id) const;
  int64_t IdOf(uint32_t node) const { return node_ids_[node]; }

  // Edge numbers leaving (outgoing) or entering (incoming) `node`, in log order.
  std::span<const uint32_t> Out(uint32_t node) const { return Span(out_offsets_, out_, node); }
  std::span<const uint32_t> In(uint32_t node) const { return Span(in_offsets_, in_, node); }

  uint32_t subject(uint32_t edge) const { return subject_[edge]; }
  uint32_t object(uint32_t edge) const { return object_[edge]; }
  float weight(uint32_t edge) const { return weight_[edge]; }
  uint32_t predicate(uint32_t edge) const { return predicate_[edge]; }
  const std::vector<std::string>& predicate_names() const { return *predicates_; }

  // The log version it was built from (EdgeCut::version) and its edge count.
  uint64_t version() const { return version_; }
  // Bytes held, charged to the memory budget by its owner.
  int64_t bytes() const;

 private:
  static std::span<const uint32_t> Span(const std::vector<uint32_t>& offsets,
                                        const std::vector<uint32_t>& edges, uint32_t node) {
    return {edges.data() + offsets[node], edges.data() + offsets[node + 1]};
  }

  std::vector<int64_t> node_ids_;  // sorted
  std::vector<uint32_t> subject_, object_, predicate_;
  std::vector<float> weight_;
  std::vector<uint32_t> out_offsets_, out_, in_offsets_, in_;
  std::shared_ptr<const std::vector<std::string>> predicates_;
  uint64_t version_ = 0;
};

}  // namespace arbalest
