#include "flight/cluster_stats.h"

namespace arbalest {

arrow::Result<Json> ClusterStats(ClusterHooks& cluster, const Json& request,
                                 const FanOutOptions& options,
                                 const std::function<arrow::Result<Json>()>& local) {
  ARROW_ASSIGN_OR_RAISE(ClusterActionResult result,
                        cluster.Action("stats", request, options, local));
  // One dataset's counts, or the totals over every dataset.
  const bool one = request.contains("dataset") || request.contains("name");
  const std::vector<std::string> keys =
      one ? std::vector<std::string>{"rows", "deleted_rows", "bytes"}
          : std::vector<std::string>{"total_rows", "total_deleted_rows", "total_bytes"};
  Json sums = Json::object();
  for (const auto& key : keys) sums[key] = 0;
  Json nodes = Json::array();
  for (const NodeAnswer& answer : result.answers) {
    Json node{{"node", answer.node}};
    for (const auto& key : keys) {
      const int64_t value = answer.answer.value(key, int64_t{0});
      node[key] = value;
      sums[key] = sums[key].get<int64_t>() + value;
    }
    nodes.push_back(std::move(node));
  }
  Json document = result.answers.front().answer;
  sums["nodes"] = std::move(nodes);
  SetMissing(sums, result.missing);
  document["cluster"] = std::move(sums);
  return document;
}

}  // namespace arbalest
