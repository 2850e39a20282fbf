#include "flight/graph_search.h"

#include <arrow/array.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "flight/search_request.h"
#include "graph/traversal.h"
#include "store/dataset_edges.h"
#include "store/dataset_layout.h"
#include "store/id_lookup.h"

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

// The defaults of an expansion: one hop, weighted, the traversal's decay.
Expansion DefaultExpansion() {
  Expansion expansion;
  expansion.traversal.max_hops = 1;
  expansion.traversal.weighted = true;
  expansion.traversal.limit = 1'000'000;
  expansion.traversal.max_paths = 100'000;
  return expansion;
}

arrow::Result<Expansion> ParseExpansion(const Json& keys, const EdgeGraph& graph) {
  Expansion expansion = DefaultExpansion();
  if (!keys.is_object()) {
    return arrow::Status::Invalid("'graph' in ", kWhat, " must be an object, got ",
                                  JsonForMessage(keys));
  }
  const std::string what = "'graph' of " + std::string(kWhat);
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      keys, {"max_hops", "predicates", "decay", "weighted", "incoming", "alpha"}, what));
  ARROW_ASSIGN_OR_RAISE(auto hops, GetOptionalInt(keys, "max_hops", what));
  if (hops && (*hops < 1 || *hops > kMaxGraphSearchHops)) {
    return arrow::Status::Invalid("'max_hops' in ", what, " must be 1 to ", kMaxGraphSearchHops,
                                  ", got ", *hops);
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
  int64_t id = 0;
  std::optional<int64_t> dense_rank;
  std::optional<float> dense_score;
  std::optional<float> dense_distance;
  double graph = 0;  // the best hit weight x path score that reached it
  std::optional<GraphPath> path;
  double score = 0;
};

// The k best of `dense` (a search result: id, score, distance first) fused with the rows its
// hits reach in `graph` by `expansion`, best first (ties by smaller id).
arrow::Result<std::vector<Fused>> Fuse(const arrow::RecordBatch& dense, const EdgeGraph& graph,
                                       Expansion expansion, int64_t k) {
  const auto* ids = dense.column(0)->data()->GetValues<int64_t>(1);
  const auto& scores = static_cast<const arrow::FloatArray&>(*dense.column(1));
  const auto& distances = static_cast<const arrow::FloatArray&>(*dense.column(2));
  std::map<int64_t, Fused> fused;
  for (int64_t rank = 0; rank < dense.num_rows(); ++rank) {
    Fused& hit = fused[ids[rank]];
    hit.dense_rank = rank;
    hit.dense_score = scores.Value(rank);
    if (distances.IsValid(rank)) hit.dense_distance = distances.Value(rank);
    const double weight = 1.0 / (kRankConstant + static_cast<double>(rank) + 1);
    expansion.traversal.start = ids[rank];
    ARROW_ASSIGN_OR_RAISE(std::vector<GraphPath> paths, Traverse(graph, expansion.traversal));
    for (auto& path : paths) {
      Fused& reached = fused[path.nodes.back()];
      const double contribution = weight * path.score;
      if (contribution > reached.graph) {
        reached.graph = contribution;
        reached.path = std::move(path);
      }
    }
  }
  std::vector<Fused> ranking;
  ranking.reserve(fused.size());
  for (auto& [id, entry] : fused) {
    const double own =
        entry.dense_rank ? 1.0 / (kRankConstant + static_cast<double>(*entry.dense_rank) + 1) : 0;
    entry.id = id;
    entry.score = (1 - expansion.alpha) * own + expansion.alpha * entry.graph;
    ranking.push_back(std::move(entry));
  }
  std::stable_sort(ranking.begin(), ranking.end(),
                   [](const Fused& a, const Fused& b) { return a.score > b.score; });
  if (static_cast<int64_t>(ranking.size()) > k) ranking.resize(k);
  return ranking;
}

// The first live row of `scope` carrying each of `ids` (integer ids, int64 bits).
arrow::Result<std::unordered_map<int64_t, uint64_t>> RowsOfIds(const SearchScope& scope,
                                                               const std::vector<int64_t>& ids) {
  const DatasetSnapshot& snapshot = scope.snapshot;
  const int id_column = snapshot.schema->GetFieldIndex(std::string(kIdColumn));
  auto data =
      arrow::ArrayData::Make(snapshot.schema->field(id_column)->type(),
                             static_cast<int64_t>(ids.size()), {nullptr, arrow::Buffer::Wrap(ids)});
  ARROW_ASSIGN_OR_RAISE(Roaring rows, LiveRowsWithIds(snapshot, *arrow::MakeArray(data)));
  std::unordered_map<int64_t, uint64_t> found;
  const RowLocator locator(snapshot);
  for (const uint32_t row : rows) {
    const RowLocation at = locator.Locate(row);
    const auto* values =
        snapshot.batches[at.batch]->column(id_column)->data()->GetValues<int64_t>(1);
    found.emplace(values[at.offset], row);  // the first row of an id stays
  }
  return found;
}

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
  if (request.graph) {
    return arrow::Status::Invalid(kWhat, " takes its expansion in 'graph', not in 'graph_alpha' ",
                                  "or 'graph_depth'");
  }
  request.columns.emplace();  // id, score and distance
  ARROW_ASSIGN_OR_RAISE(auto result, TimedSearch(*dataset, request, metrics));
  ARROW_ASSIGN_OR_RAISE(std::vector<Fused> ranking,
                        Fuse(*result, *graph, std::move(expansion), request.k));
  Json answer = Json::array();
  for (const Fused& entry : ranking) {
    answer.push_back({{"id", entry.id},
                      {"score", entry.score},
                      {"dense_rank", entry.dense_rank ? Json(*entry.dense_rank) : Json()},
                      {"dense_score", entry.dense_score ? Json(*entry.dense_score) : Json()},
                      {"path", entry.path ? PathJson(*entry.path, *graph) : Json()}});
  }
  return answer;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> GraphExpandedSearch(
    const Dataset& dataset, const SearchRequest& request) {
  ARROW_RETURN_NOT_OK(CheckGraphIds(dataset));
  SearchRequest dense = request;
  dense.graph.reset();
  dense.columns.emplace();  // id, score and distance
  dense.include_vectors = false;
  ARROW_ASSIGN_OR_RAISE(auto result, SearchDataset(dataset, dense));
  Expansion expansion = DefaultExpansion();
  expansion.alpha = request.graph->alpha;
  expansion.traversal.max_hops = request.graph->max_hops;
  ARROW_ASSIGN_OR_RAISE(std::vector<Fused> ranking,
                        Fuse(*result, *dataset.graph().Adjacency(), expansion, request.k));
  // The rows of the ranking, from a later snapshot: a row deleted meanwhile is left out.
  SearchRequest shape = request;
  shape.graph.reset();
  shape.filter.reset();  // applied by the dense search; the expansion does not apply it
  ARROW_ASSIGN_OR_RAISE(SearchScope scope, OpenSearchScope(dataset, shape));
  std::vector<int64_t> ids;
  for (const Fused& entry : ranking) ids.push_back(entry.id);
  ARROW_ASSIGN_OR_RAISE(auto rows_of, RowsOfIds(scope, ids));
  std::vector<ResultRow> rows;
  for (const Fused& entry : ranking) {
    auto row = rows_of.find(entry.id);
    if (row == rows_of.end()) continue;
    rows.push_back({row->second, static_cast<float>(entry.score), entry.dense_distance});
  }
  return MakeSearchResult(scope, rows, /*nullable_distance=*/true);
}

}  // namespace arbalest
