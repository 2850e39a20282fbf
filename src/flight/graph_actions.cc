#include "flight/graph_actions.h"

#include <arrow/builder.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "common/json_util.h"
#include "flight/graph_search.h"
#include "graph/traversal.h"
#include "store/dataset_edges.h"

namespace arbalest {
namespace {

using Buffers = std::vector<std::shared_ptr<arrow::Buffer>>;

constexpr int kMaxHops = 10;
constexpr int64_t kMaxPathsReturned = 100000;

arrow::Result<Buffers> Reply(arrow::Result<Json> json) {
  ARROW_RETURN_NOT_OK(json.status());
  return Buffers{JsonBuffer(*json)};
}

std::string BodyOf(std::string_view action) {
  return "body of action '" + std::string(action) + "'";
}

// The required integer under `key` (a row id).
arrow::Result<int64_t> RequiredId(const Json& request, std::string_view key,
                                  std::string_view action) {
  ARROW_ASSIGN_OR_RAISE(auto id, GetOptionalInt(request, key, BodyOf(action)));
  if (!id) {
    return arrow::Status::Invalid("action '", action, "' needs '", key, "' (a row id, an integer)");
  }
  return *id;
}

arrow::Result<bool> OptionalBool(const Json& request, std::string_view key, bool otherwise,
                                 std::string_view action) {
  const std::string name(key);
  if (!request.contains(name)) return otherwise;
  if (!request[name].is_boolean()) {
    return arrow::Status::Invalid("'", key, "' in ", BodyOf(action), " must be true or false, got ",
                                  JsonForMessage(request[name]));
  }
  return request[name].get<bool>();
}

// The body's dataset (required), which must hold integer ids.
arrow::Result<std::shared_ptr<Dataset>> DatasetOf(VectorStore& store, const Json& request,
                                                  std::string_view action) {
  ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(request, {"dataset", "name"}, BodyOf(action)));
  if (!name) return arrow::Status::Invalid("action '", action, "' needs {\"dataset\": name}");
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
  ARROW_RETURN_NOT_OK(CheckGraphIds(*dataset));
  return dataset;
}

// {"dataset", "subject", "predicate", "object", "weight"} -> edge added.
arrow::Result<Buffers> AddEdge(VectorStore& store, std::string_view body) {
  constexpr std::string_view kAction = "add-edge";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, BodyOf(kAction)));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      request, {"dataset", "name", "subject", "predicate", "object", "weight"}, BodyOf(kAction)));
  ARROW_ASSIGN_OR_RAISE(auto dataset, DatasetOf(store, request, kAction));
  ARROW_ASSIGN_OR_RAISE(int64_t subject, RequiredId(request, "subject", kAction));
  ARROW_ASSIGN_OR_RAISE(int64_t object, RequiredId(request, "object", kAction));
  ARROW_ASSIGN_OR_RAISE(auto predicate, GetOptionalString(request, {"predicate"}, BodyOf(kAction)));
  if (!predicate || predicate->empty()) {
    return arrow::Status::Invalid("action 'add-edge' needs 'predicate' (a non-empty string)");
  }
  ARROW_ASSIGN_OR_RAISE(auto weight, GetOptionalNumber(request, "weight", BodyOf(kAction)));
  arrow::Int64Builder subjects, objects;
  arrow::StringBuilder predicates;
  arrow::FloatBuilder weights;
  ARROW_RETURN_NOT_OK(subjects.Append(subject));
  ARROW_RETURN_NOT_OK(objects.Append(object));
  ARROW_RETURN_NOT_OK(predicates.Append(*predicate));
  ARROW_RETURN_NOT_OK(weights.Append(static_cast<float>(weight.value_or(1.0))));
  std::shared_ptr<arrow::Array> s, p, o, w;
  ARROW_RETURN_NOT_OK(subjects.Finish(&s));
  ARROW_RETURN_NOT_OK(predicates.Finish(&p));
  ARROW_RETURN_NOT_OK(objects.Finish(&o));
  ARROW_RETURN_NOT_OK(weights.Finish(&w));
  const auto schema = arrow::schema(
      {arrow::field("subject", arrow::int64()), arrow::field("predicate", arrow::utf8()),
       arrow::field("object", arrow::int64()), arrow::field("weight", arrow::float32())});
  ARROW_RETURN_NOT_OK(
      store.AddEdges(*dataset, *arrow::RecordBatch::Make(schema, 1, {s, p, o, w})).status());
  return Buffers{arrow::Buffer::FromString("edge added")};
}

arrow::Result<TraversalOptions> ParseTraversal(const Json& request, const EdgeGraph& graph) {
  constexpr std::string_view kAction = "traverse-graph";
  const std::string what = BodyOf(kAction);
  TraversalOptions options;
  ARROW_ASSIGN_OR_RAISE(options.start, RequiredId(request, "start", kAction));
  ARROW_ASSIGN_OR_RAISE(auto hops, GetOptionalInt(request, "max_hops", what));
  if (hops && (*hops < 1 || *hops > kMaxHops)) {
    return arrow::Status::Invalid("'max_hops' in ", what, " must be 1 to ", kMaxHops, ", got ",
                                  *hops);
  }
  options.max_hops = static_cast<int>(hops.value_or(2));
  ARROW_ASSIGN_OR_RAISE(options.incoming, OptionalBool(request, "incoming", false, kAction));
  ARROW_ASSIGN_OR_RAISE(options.weighted, OptionalBool(request, "weighted", false, kAction));
  ARROW_ASSIGN_OR_RAISE(auto decay, GetOptionalNumber(request, "decay", what));
  if (decay && !(*decay > 0 && *decay <= 1)) {
    return arrow::Status::Invalid("'decay' in ", what, " must be in (0, 1], got ", *decay);
  }
  options.decay = decay.value_or(0.5);
  ARROW_ASSIGN_OR_RAISE(auto limit, GetOptionalInt(request, "limit", what));
  if (limit && (*limit < 1 || *limit > kMaxPathsReturned)) {
    return arrow::Status::Invalid("'limit' in ", what, " must be 1 to ", kMaxPathsReturned,
                                  ", got ", *limit);
  }
  options.limit = limit.value_or(1000);
  if (request.contains("predicates")) {
    const Json& names = request["predicates"];
    if (!names.is_array() || names.empty()) {
      return arrow::Status::Invalid("'predicates' in ", what,
                                    " must be a non-empty array of strings, got ",
                                    JsonForMessage(names));
    }
    options.predicates.emplace();
    const auto& known = graph.predicate_names();
    for (const Json& name : names) {
      if (!name.is_string()) {
        return arrow::Status::Invalid("'predicates' in ", what, " must hold strings, got ",
                                      JsonForMessage(name));
      }
      auto it = std::find(known.begin(), known.end(), name.get<std::string>());
      if (it != known.end()) options.predicates->insert(static_cast<uint32_t>(it - known.begin()));
    }
  }
  return options;
}

// The paths as the JSON list traverse-graph answers, written directly: a path costs a few
// hundred bytes, and a reply may hold 100,000 of them (building nlohmann objects cost more than
// the traversal).
std::string PathsJson(const std::vector<GraphPath>& paths, const EdgeGraph& graph) {
  std::vector<std::string> predicates;  // each name once, as a JSON string
  predicates.reserve(graph.predicate_names().size());
  for (const auto& name : graph.predicate_names()) predicates.push_back(Json(name).dump());
  fmt::memory_buffer out;
  out.push_back('[');
  for (size_t p = 0; p < paths.size(); ++p) {
    const GraphPath& path = paths[p];
    fmt::format_to(std::back_inserter(out), "{}{{\"Nodes\":[{}],\"Edges\":[", p ? "," : "",
                   fmt::join(path.nodes, ","));
    for (size_t i = 0; i < path.edges.size(); ++i) {
      const uint32_t edge = path.edges[i];
      fmt::format_to(std::back_inserter(out),
                     "{}{{\"Subject\":{},\"Predicate\":{},\"Object\":{},\"Weight\":{}}}",
                     i ? "," : "", graph.IdOf(graph.subject(edge)),
                     predicates[graph.predicate(edge)], graph.IdOf(graph.object(edge)),
                     graph.weight(edge));
    }
    fmt::format_to(std::back_inserter(out), "],\"Score\":{}}}", path.score);
  }
  out.push_back(']');
  return fmt::to_string(out);
}

// -> [{"Nodes", "Edges", "Score"}, ...], best first.
arrow::Result<Buffers> TraverseGraph(VectorStore& store, std::string_view body) {
  constexpr std::string_view kAction = "traverse-graph";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, BodyOf(kAction)));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request,
                                     {"dataset", "name", "start", "max_hops", "incoming",
                                      "weighted", "decay", "predicates", "limit"},
                                     BodyOf(kAction)));
  ARROW_ASSIGN_OR_RAISE(auto dataset, DatasetOf(store, request, kAction));
  const std::shared_ptr<const EdgeGraph> graph = dataset->graph().Adjacency();
  ARROW_ASSIGN_OR_RAISE(TraversalOptions options, ParseTraversal(request, *graph));
  // Edges of deleted rows are removed with them, so a start the graph holds is live; one it
  // does not hold is looked up among the rows.
  bool live = graph->NodeOf(options.start).has_value();
  if (!live) {
    ARROW_ASSIGN_OR_RAISE(live, HasLiveId(dataset->Snapshot(), options.start));
  }
  if (!live) {
    return arrow::Status::KeyError("start id ", options.start, " is not a row of dataset '",
                                   dataset->name(), "'");
  }
  ARROW_ASSIGN_OR_RAISE(std::vector<GraphPath> paths, Traverse(*graph, options));
  return Buffers{arrow::Buffer::FromString(PathsJson(paths, *graph))};
}

// -> {"edge_count", "node_count", "community_count", "community_algorithm", "predicates"}.
arrow::Result<Json> GraphStats(VectorStore& store, std::string_view body) {
  constexpr std::string_view kAction = "GetGraphStats";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, BodyOf(kAction)));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request, {"dataset", "name"}, BodyOf(kAction)));
  ARROW_ASSIGN_OR_RAISE(auto dataset, DatasetOf(store, request, kAction));
  const std::shared_ptr<const EdgeGraph> graph = dataset->graph().Adjacency();
  std::set<std::string> predicates;
  std::vector<bool> used(graph->predicate_names().size(), false);
  for (uint32_t edge = 0; edge < graph->num_edges(); ++edge) used[graph->predicate(edge)] = true;
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i]) predicates.insert(graph->predicate_names()[i]);
  }
  const std::shared_ptr<const Communities> communities = dataset->graph().CommunitiesOf(graph);
  return Json{{"dataset", dataset->name()},
              {"edge_count", graph->num_edges()},
              {"node_count", graph->num_nodes()},
              {"community_count", communities->count},
              {"community_algorithm", "label_propagation"},
              {"predicates", predicates}};
}

}  // namespace

std::vector<arrow::flight::ActionType> GraphActionTypes() {
  return {
      {"add-edge",
       "Add a graph edge between two rows. Body: {\"dataset\", \"subject\": id, \"predicate\", "
       "\"object\": id, \"weight\"}. Result: edge added. Bulk: DoPut to [dataset, \"edges\"]."},
      {"traverse-graph",
       "Paths from a row. Body: {\"dataset\", \"start\": id, \"max_hops\" (2), \"incoming\", "
       "\"weighted\", \"decay\" (0.5), \"predicates\", \"limit\" (1000)}. Result: "
       "[{\"Nodes\", \"Edges\": [{\"Subject\", \"Predicate\", \"Object\", \"Weight\"}], "
       "\"Score\"}], best first."},
      {"GraphSearch",
       "Dense search expanded by the hits' graph neighbourhood. Body: VectorSearch's keys (one "
       "vector) and \"graph\": {\"max_hops\" (1), \"predicates\", \"decay\", "
       "\"weighted\", \"incoming\", \"alpha\" (0.5)}. Result: [{\"id\", \"score\", "
       "\"dense_rank\", \"dense_score\", \"path\"}], best first."},
      {"GetGraphStats",
       "Body: {\"dataset\"}. Result: {\"edge_count\", \"node_count\", \"community_count\" "
       "(label propagation), \"predicates\"}."},
  };
}

std::optional<arrow::Result<Buffers>> RunGraphAction(VectorStore& store, std::string_view type,
                                                     std::string_view body,
                                                     ServerMetrics* metrics) {
  if (type == "GraphSearch") return Reply(GraphSearch(store, body, metrics));
  if (type == "add-edge") return AddEdge(store, body);
  if (type == "traverse-graph") return TraverseGraph(store, body);
  if (type == "GetGraphStats") return Reply(GraphStats(store, body));
  return std::nullopt;
}

}  // namespace arbalest
