#include "flight/cluster_delete.h"

#include <arrow/flight/types.h>

namespace arbalest {

namespace {

// A member that lacks the dataset holds none of its rows: it has nothing to delete.
bool LacksDataset(const MissingNode& node) { return node.reason.starts_with("no dataset"); }

}  // namespace

arrow::Result<Json> ClusterDelete(ClusterHooks& cluster, const Json& request,
                                  const FanOutOptions& options,
                                  const std::function<arrow::Result<Json>()>& local) {
  if (cluster.HopsCarryToken() && options.forwarded_token.empty()) {
    return arrow::Status::Invalid(
        "action 'delete' on a cluster node with --auth-tokens: the call carries no client token "
        "to forward to the other members, which check it (nothing was deleted)");
  }
  FanOutOptions every_answer = options;
  every_answer.require_all = false;  // checked below, once the members lacking it are left out
  ARROW_ASSIGN_OR_RAISE(ClusterActionResult result,
                        cluster.Action("delete", request, every_answer, local));
  int64_t deleted = 0;
  Json nodes = Json::array();
  for (const NodeAnswer& answer : result.answers) {
    const int64_t count = answer.answer.value("deleted", int64_t{0});
    deleted += count;
    nodes.push_back({{"node", answer.node}, {"deleted", count}});
  }
  std::vector<MissingNode> missing;
  for (auto& node : result.missing) {
    if (LacksDataset(node)) {
      nodes.push_back({{"node", node.node}, {"deleted", 0}});
    } else {
      missing.push_back(std::move(node));
    }
  }
  if (options.require_all && !missing.empty()) {
    return arrow::flight::MakeFlightError(
        arrow::flight::FlightStatusCode::Unavailable,
        "require_all: member '" + missing.front().node + "' is missing from the delete (" +
            missing.front().reason + "); the members that answered deleted " +
            std::to_string(deleted) + " rows; all missing: " + MissingNodesJson(missing).dump());
  }
  Json answer{{"deleted", deleted}, {"nodes", std::move(nodes)}};
  SetMissing(answer, missing);
  return answer;
}

}  // namespace arbalest
