#include "graph/label_propagation.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace arbalest {

Communities PropagateLabels(const EdgeGraph& graph, int max_rounds) {
  const auto nodes = static_cast<uint32_t>(graph.num_nodes());
  Communities result;
  result.label.resize(nodes);
  std::iota(result.label.begin(), result.label.end(), 0u);
  std::vector<uint32_t> order(nodes);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937 random(20070101);
  std::shuffle(order.begin(), order.end(), random);
  std::unordered_map<uint32_t, double> weight_of;
  for (result.rounds = 0; result.rounds < max_rounds;) {
    ++result.rounds;
    bool changed = false;
    for (uint32_t node : order) {
      weight_of.clear();
      const auto add = [&](uint32_t neighbour, uint32_t edge) {
        if (neighbour != node) weight_of[result.label[neighbour]] += graph.weight(edge);
      };
      for (uint32_t edge : graph.Out(node)) add(graph.object(edge), edge);
      for (uint32_t edge : graph.In(node)) add(graph.subject(edge), edge);
      if (weight_of.empty()) continue;
      const uint32_t current = result.label[node];
      double best_weight = -1;
      uint32_t best = current;
      for (const auto& [label, weight] : weight_of) {
        if (weight > best_weight || (weight == best_weight && label < best)) {
          best_weight = weight;
          best = label;
        }
      }
      if (auto own = weight_of.find(current);
          own != weight_of.end() && own->second == best_weight) {
        best = current;
      }
      if (best != current) {
        result.label[node] = best;
        changed = true;
      }
    }
    if (!changed) break;
  }
  result.count = static_cast<int64_t>(
      std::unordered_set<uint32_t>(result.label.begin(), result.label.end()).size());
  return result;
}

}  // namespace arbalest
