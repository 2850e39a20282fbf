#include "flight/cluster_readiness.h"

#include <string>

namespace arbalest {

arrow::Result<Json> ClusterReadiness(ClusterHooks& cluster, const Json& request,
                                     const FanOutOptions& options,
                                     const std::function<arrow::Result<Json>()>& local) {
  ARROW_ASSIGN_OR_RAISE(ClusterActionResult result,
                        cluster.Action("check_readiness", request, options, local));
  const std::vector<std::string> counts = {"index_len", "pending", "index_queue_depth"};
  Json sums = Json::object();
  for (const auto& key : counts) sums[key] = 0;
  Json nodes = Json::array();
  bool busy = !result.missing.empty();  // a member not heard from may still be indexing
  bool found = false;
  for (const NodeAnswer& answer : result.answers) {
    const std::string status = answer.answer.value("status", std::string("BUSY"));
    busy = busy || status == "BUSY";
    found = found || status != "NOT_FOUND";
    Json node{{"node", answer.node}, {"status", status}};
    for (const auto& key : counts) {
      const int64_t value = answer.answer.value(key, int64_t{0});
      node[key] = value;
      sums[key] = sums[key].get<int64_t>() + value;
    }
    nodes.push_back(std::move(node));
  }
  sums["status"] = busy ? "BUSY" : found ? "READY" : "NOT_FOUND";
  sums["nodes"] = std::move(nodes);
  SetMissing(sums, result.missing);
  return sums;
}

}  // namespace arbalest
