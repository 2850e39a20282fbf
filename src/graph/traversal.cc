#include "graph/traversal.h"

#include <algorithm>

namespace arbalest {
namespace {

class PathWalk {
 public:
  PathWalk(const EdgeGraph& graph, const TraversalOptions& options)
      : graph_(graph), options_(options) {}

  arrow::Status Walk(uint32_t node, double score) {
    if (static_cast<int>(edges_.size()) == options_.max_hops) return arrow::Status::OK();
    const auto next = options_.incoming ? graph_.In(node) : graph_.Out(node);
    for (uint32_t edge : next) {
      if (options_.predicates && !options_.predicates->contains(graph_.predicate(edge))) {
        continue;
      }
      const uint32_t to = options_.incoming ? graph_.subject(edge) : graph_.object(edge);
      if (std::find(nodes_.begin(), nodes_.end(), to) != nodes_.end()) continue;  // simple paths
      const double hop =
          (options_.weighted ? graph_.weight(edge) : 1.0) * (edges_.empty() ? 1.0 : options_.decay);
      nodes_.push_back(to);
      edges_.push_back(edge);
      ARROW_RETURN_NOT_OK(Emit(score * hop));
      ARROW_RETURN_NOT_OK(Walk(to, score * hop));
      nodes_.pop_back();
      edges_.pop_back();
    }
    return arrow::Status::OK();
  }

  void Begin(uint32_t start) { nodes_ = {start}; }
  std::vector<GraphPath> TakePaths() { return std::move(paths_); }

 private:
  arrow::Status Emit(double score) {
    if (static_cast<int64_t>(paths_.size()) >= options_.max_paths) {
      return arrow::Status::Invalid("more than ", options_.max_paths, " paths lie within ",
                                    options_.max_hops,
                                    " hops of the start: lower max_hops or name predicates");
    }
    GraphPath path;
    path.nodes.reserve(nodes_.size());
    for (uint32_t node : nodes_) path.nodes.push_back(graph_.IdOf(node));
    path.edges = edges_;
    path.score = score;
    paths_.push_back(std::move(path));
    return arrow::Status::OK();
  }

  const EdgeGraph& graph_;
  const TraversalOptions& options_;
  std::vector<uint32_t> nodes_;
  std::vector<uint32_t> edges_;
  std::vector<GraphPath> paths_;
};

}  // namespace

arrow::Result<std::vector<GraphPath>> Traverse(const EdgeGraph& graph,
                                               const TraversalOptions& options) {
  const std::optional<uint32_t> start = graph.NodeOf(options.start);
  if (!start || options.max_hops <= 0) return std::vector<GraphPath>{};
  PathWalk walk(graph, options);
  walk.Begin(*start);
  ARROW_RETURN_NOT_OK(walk.Walk(*start, 1.0));
  std::vector<GraphPath> paths = walk.TakePaths();
  const auto better = [](const GraphPath& a, const GraphPath& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.nodes.size() != b.nodes.size()) return a.nodes.size() < b.nodes.size();
    if (a.nodes != b.nodes) return a.nodes < b.nodes;
    return a.edges < b.edges;
  };
  const auto keep = static_cast<size_t>(std::max<int64_t>(0, options.limit));
  if (paths.size() > keep) {
    std::partial_sort(paths.begin(), paths.begin() + static_cast<std::ptrdiff_t>(keep), paths.end(),
                      better);
    paths.resize(keep);
  } else {
    std::sort(paths.begin(), paths.end(), better);
  }
  return paths;
}

}  // namespace arbalest
