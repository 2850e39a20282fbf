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
  std::vector<MissingNode> missing = std::move(result.missing);
  if (!one) {
    // The members' own totals count every replica of a shard: the totals are the catalog's,
    // and so are the members or shards missing from them.
    ARROW_ASSIGN_OR_RAISE(ClusterCatalog catalog, cluster.Catalog("", options, local_catalog));
    sums = CatalogTotals(catalog.entries);
    missing = std::move(catalog.missing);
  }
  Json document = result.answers.front().answer;
  sums["nodes"] = std::move(nodes);
  SetMissing(sums, missing);
  document["cluster"] = std::move(sums);
  return document;
}

}  // namespace arbalest
