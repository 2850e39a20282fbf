#include "flight/graph_search.h"

#include <arrow/array.h>

#include <algorithm>
#include <map>
#include <optional>

#include "flight/search_request.h"
#include "graph/traversal.h"
#include "store/dataset_edges.h"

namespace arbalest {
namespace {

constexpr std::string_view kWhat = "body of action 'GraphSearch'";
// Rank weight of reciprocal-rank fusion, as hybrid search uses: a hit at rank r weighs
// 1 / (kRankConstant + r + 1).
constexpr double kRankConstant = 60;

struct Expansion {
  TraversalOptions traversal;
  double alpha = 0.5;  // the graph side's share of the fused score
};

arrow::Result<Expansion> ParseExpansion(const Json& keys, const EdgeGraph& graph) {
  Expansion expansion;
  expansion.traversal.max_hops = 1;
  expansion.traversal.weighted = true;
  expansion.traversal.limit = 1'000'000;
  expansion.traversal.max_paths = 100'000;
  if (!keys.is_object()) {
    return arrow::Status::Invalid("'graph' in ", kWhat, " must be an object, got ",
                                  JsonForMessage(keys));
  }
  const std::string what = "'graph' of " + std::string(kWhat);
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      keys, {"max_hops", "predicates", "decay", "weighted", "incoming", "alpha"}, what));
  ARROW_ASSIGN_OR_RAISE(auto hops, GetOptionalInt(keys, "max_hops", what));
  if (hops && (*hops < 1 || *hops > 4)) {
    return arrow::Status::Invalid("'max_hops' in ", what, " must be 1 to 4, got ", *hops);
  }
  expansion.traversal.max_hops = static_cast<int>(hops.value_or(1));
  for (const auto& [key, target] :
       {std::pair{"decay", &expansion.traversal.decay}, std::pair{"alpha", &expansion.alpha}}) {
    ARROW_ASSIGN_OR_RAISE(auto value, GetOptionalNumber(keys, key, what));
    if (value && !(*value >= 0 && *value <= 1)) {
      return arrow::Status::Invalid("'", key, "' in ", what, " must be in [0, 1], got ", *value);
    }
    if (value) *target = *value;
  }
  for (const auto& [key, target] : {std::pair{"weighted", &expansion.traversal.weighted},
                                    std::pair{"incoming", &expansion.traversal.incoming}}) {
    if (!keys.contains(key)) continue;
    if (!keys[key].is_boolean()) {
      return arrow::Status::Invalid("'", key, "' in ", what, " must be true or false");
    }
    *target = keys[key].get<bool>();
  }
  if (keys.contains("predicates")) {
    const Json& names = keys["predicates"];
    if (!names.is_array()) {
      return arrow::Status::Invalid("'predicates' in ", what, " must be an array of strings");
    }
    expansion.traversal.predicates.emplace();
    const auto& known = graph.predicate_names();
    for (const Json& name : names) {
      if (!name.is_string()) {
        return arrow::Status::Invalid("'predicates' in ", what, " must hold strings");
      }
      auto it = std::find(known.begin(), known.end(), name.get<std::string>());
      if (it != known.end()) {
        expansion.traversal.predicates->insert(static_cast<uint32_t>(it - known.begin()));
      }
    }
  }
  return expansion;
}

// One entry of the fused ranking.
struct Fused {
  std::optional<int64_t> dense_rank;
  std::optional<float> dense_score;
  double graph = 0;  // the best hit weight x path score that reached it
  std::optional<GraphPath> path;
  double score = 0;
};

Json PathJson(const GraphPath& path, const EdgeGraph& graph) {
  Json edges = Json::array();
  for (uint32_t edge : path.edges) {
    edges.push_back({{"Subject", graph.IdOf(graph.subject(edge))},
                     {"Predicate", graph.predicate_names()[graph.predicate(edge)]},
                     {"Object", graph.IdOf(graph.object(edge))},
                     {"Weight", graph.weight(edge)}});
  }
  return Json{{"Nodes", path.nodes}, {"Edges", std::move(edges)}, {"Score", path.score}};
}

}  // namespace

arrow::Result<Json> GraphSearch(VectorStore& store, std::string_view body, ServerMetrics* metrics) {
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, kWhat));
  Json graph_keys = Json::object();
  if (auto it = keys.find("graph"); it != keys.end()) {
    graph_keys = *it;
    keys.erase(it);
  }
  ARROW_ASSIGN_OR_RAISE(ParsedSearch search, ParseSearch(keys, /*allow_batch=*/false, kWhat));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search.dataset));
  ARROW_RETURN_NOT_OK(CheckGraphIds(*dataset));
  const std::shared_ptr<const EdgeGraph> graph = dataset->graph().Adjacency();
  ARROW_ASSIGN_OR_RAISE(Expansion expansion, ParseExpansion(graph_keys, *graph));
  SearchRequest& request = search.queries.front();
  request.columns.emplace();  // id, score and distance
  ARROW_ASSIGN_OR_RAISE(auto result, TimedSearch(*dataset, request, metrics));
  const auto* ids = result->column(0)->data()->GetValues<int64_t>(1);
  const auto& scores = static_cast<const arrow::FloatArray&>(*result->column(1));

  std::map<int64_t, Fused> fused;
  for (int64_t rank = 0; rank < result->num_rows(); ++rank) {
    Fused& hit = fused[ids[rank]];
    hit.dense_rank = rank;
    hit.dense_score = scores.Value(rank);
    const double weight = 1.0 / (kRankConstant + static_cast<double>(rank) + 1);
    expansion.traversal.start = ids[rank];
    ARROW_ASSIGN_OR_RAISE(std::vector<GraphPath> paths, Traverse(*graph, expansion.traversal));
    for (auto& path : paths) {
      Fused& reached = fused[path.nodes.back()];
      const double contribution = weight * path.score;
      if (contribution > reached.graph) {
        reached.graph = contribution;
        reached.path = std::move(path);
      }
    }
  }
  std::vector<std::pair<int64_t, Fused*>> ranking;
  for (auto& [id, entry] : fused) {
    const double dense =
        entry.dense_rank ? 1.0 / (kRankConstant + static_cast<double>(*entry.dense_rank) + 1) : 0;
    entry.score = (1 - expansion.alpha) * dense + expansion.alpha * entry.graph;
    ranking.emplace_back(id, &entry);
  }
  std::stable_sort(ranking.begin(), ranking.end(),
                   [](const auto& a, const auto& b) { return a.second->score > b.second->score; });
  if (static_cast<int64_t>(ranking.size()) > request.k) ranking.resize(request.k);
  Json answer = Json::array();
  for (const auto& [id, entry] : ranking) {
    answer.push_back({{"id", id},
                      {"score", entry->score},
                      {"dense_rank", entry->dense_rank ? Json(*entry->dense_rank) : Json()},
                      {"dense_score", entry->dense_score ? Json(*entry->dense_score) : Json()},
                      {"path", entry->path ? PathJson(*entry->path, *graph) : Json()}});
  }
  return answer;
}

}  // namespace arbalest
