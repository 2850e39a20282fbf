#include "flight/cluster_stats.h"

namespace arbalest {
namespace {

// {"total_rows", "total_deleted_rows", "total_bytes", "datasets": [...]} of the cluster's
// logical datasets: each row counted once, whatever the replication.
Json CatalogTotals(const std::vector<CatalogEntry>& entries) {
  int64_t rows = 0, deleted_rows = 0, bytes = 0;
  Json datasets = Json::array();
  for (const CatalogEntry& entry : entries) {
    rows += entry.rows;
    deleted_rows += entry.deleted_rows;
    bytes += entry.bytes;
    datasets.push_back(Json{{"dataset", entry.name},
                            {"rows", entry.rows},
                            {"deleted_rows", entry.deleted_rows},
                            {"bytes", entry.bytes}});
  }
  return Json{{"total_rows", rows},
              {"total_deleted_rows", deleted_rows},
              {"total_bytes", bytes},
              {"datasets", std::move(datasets)}};
}

}  // namespace

arrow::Result<Json> ClusterStats(ClusterHooks& cluster, const Json& request,
                                 const FanOutOptions& options,
                                 const std::function<arrow::Result<Json>()>& local,
                                 const std::function<std::vector<CatalogEntry>()>& local_catalog) {
  if (!request.contains("dataset") && !request.contains("name")) {
    // The totals over every dataset come from one fan-out, the catalog's: the logical totals
    // count a sharded row once, and each member's own totals (every replica it holds) are
    // summed from its listing.
    ARROW_ASSIGN_OR_RAISE(Json document, local());
    ARROW_ASSIGN_OR_RAISE(ClusterCatalog catalog, cluster.Catalog("", options, local_catalog));
    Json sums = CatalogTotals(catalog.entries);
    Json nodes = Json::array();
    for (const MemberTotals& member : catalog.members) {
      nodes.push_back(Json{{"node", member.node},
                           {"total_rows", member.rows},
                           {"total_deleted_rows", member.deleted_rows},
                           {"total_bytes", member.bytes}});
    }
    sums["nodes"] = std::move(nodes);
    SetMissing(sums, catalog.missing);
    document["cluster"] = std::move(sums);
    return document;
  }
  // One dataset's counts: each member's, asked with local_only, and their sums.
  ARROW_ASSIGN_OR_RAISE(ClusterActionResult result,
                        cluster.Action("stats", request, options, local));
  const std::vector<std::string> keys{"rows", "deleted_rows", "bytes"};
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
