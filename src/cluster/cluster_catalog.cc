// ClusterNode's catalog (cluster_node.h): ListFlights, GetFlightInfo and GetSchema over the
// cluster, merged by catalog_merge.h.
#include <arrow/flight/client.h>

#include "cluster/catalog_merge.h"
#include "cluster/cluster_node.h"
#include "cluster/fan_out_util.h"

namespace arbalest {

namespace fl = arrow::flight;

arrow::Result<std::vector<CatalogEntry>> ClusterNode::ListPeer(const MemberInfo& peer,
                                                               const std::string& criteria,
                                                               std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(auto client, peers_.Get(peer.flight));
  const fl::FlightCallOptions call = peers_.CallOptions(timeout);
  auto result = [&]() -> arrow::Result<std::vector<CatalogEntry>> {
    ARROW_ASSIGN_OR_RAISE(auto listing, client->ListFlights(call, fl::Criteria{criteria}));
    std::vector<CatalogEntry> entries;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(std::unique_ptr<fl::FlightInfo> info, listing->Next());
      if (!info) return entries;
      ARROW_ASSIGN_OR_RAISE(CatalogEntry entry, CatalogEntryOf(*info));
      entries.push_back(std::move(entry));
    }
  }();
  if (!result.ok() && PeerUnreachable(result.status())) peers_.Drop(peer.flight);
  return result;
}

arrow::Result<ClusterCatalog> ClusterNode::Catalog(
    std::string_view name_part, const FanOutOptions& options,
    const std::function<std::vector<CatalogEntry>()>& local) {
  Json hop{{"local_only", true}};
  if (!name_part.empty()) hop["name"] = std::string(name_part);
  const std::string criteria = hop.dump();
  const std::string self_id = SelfId();
  ClusterCatalog catalog;
  ARROW_ASSIGN_OR_RAISE(std::vector<MemberCatalog> members,
                        FanOut<MemberCatalog>(
                            options,
                            [&]() -> arrow::Result<MemberCatalog> {
                              return MemberCatalog{self_id, local()};
                            },
                            [&](const MemberInfo& peer,
                                std::chrono::milliseconds timeout) -> arrow::Result<MemberCatalog> {
                              ARROW_ASSIGN_OR_RAISE(auto entries,
                                                    ListPeer(peer, criteria, timeout));
                              return MemberCatalog{peer.node_id, std::move(entries)};
                            },
                            nullptr, &catalog.missing));
  for (const MemberCatalog& member : members) {
    MemberTotals totals{member.node};
    for (const CatalogEntry& entry : member.entries) {
      totals.rows += entry.rows;
      totals.deleted_rows += entry.deleted_rows;
      totals.bytes += entry.bytes;
    }
    catalog.members.push_back(std::move(totals));
  }
  ARROW_ASSIGN_OR_RAISE(std::vector<ShardMap> maps, maps_.All());
  std::vector<MissingNode> missing_shards;
  catalog.entries = MergeCatalogs(members, maps, &missing_shards);
  // A member that did not answer may hold rows of any unsharded dataset.
  if (!catalog.missing.empty()) {
    for (CatalogEntry& entry : catalog.entries) {
      if (entry.cluster.contains("nodes"))
        entry.cluster["missing_nodes"] = MissingNodesJson(catalog.missing);
    }
  }
  if (options.require_all && !missing_shards.empty()) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "require_all: " + missing_shards.front().reason +
                                   "; all missing: " + MissingShardsJson(missing_shards).dump());
  }
  for (auto& node : missing_shards) catalog.missing.push_back(std::move(node));
  return catalog;
}

}  // namespace arbalest
