#include "flight/auth_policy.h"

#include <fmt/format.h>

#include "common/json_util.h"
#include "flight/call_credentials.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// "<name>.__shard<n>" (a shard's local dataset, cluster/shard_map.h) as <name>; others as they
// are.
std::string LogicalDataset(const std::string& name) {
  constexpr std::string_view kMarker = ".__shard";
  const size_t at = name.rfind(kMarker);
  if (at == std::string::npos || at == 0 || at + kMarker.size() == name.size()) return name;
  for (size_t i = at + kMarker.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return name;
  }
  return name.substr(0, at);
}

// The string values of "dataset" and "name" in a JSON object.
void AddNamedDatasets(const Json& object, std::vector<std::string>* datasets) {
  if (!object.is_object()) return;
  for (const char* key : {"dataset", "name"}) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) {
      datasets->push_back(LogicalDataset(it->get<std::string>()));
    }
  }
}

// The calls between cluster nodes that a token of role cluster may make besides local_only
// reads: a replica's catch-up closing and opening a shard's fence and reading the digests of
// its copy (cluster/shard_catchup.h).
bool IsClusterInternalAction(std::string_view action) {
  return action == "shard-fence" || action == "shard-digest" || action == "shard-segments" ||
         action == "shard-segment";
}

bool CoversEveryDatasetWithoutOne(std::string_view action) {
  return action == "stats" || action == "check_readiness" || action == "snapshot" ||
         action == "ForceSnapshot";
}

bool SaysLocalOnly(const Json& object) {
  if (!object.is_object()) return false;
  auto it = object.find("local_only");
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string Describe(const AccessRequest& request) {
  return request.action.empty() ? request.method : "action '" + request.action + "'";
}

}  // namespace

Role RequiredRole(std::string_view action) {
  if (action == "VectorSearch" || action == "HybridSearch" || action == "VectorSearchByID" ||
      action == "check_readiness" || action == "stats" || action == "traverse-graph" ||
      action == "GraphSearch" || action == "GetGraphStats" || action == "ListNamespaces" ||
      action == "GetTotalNamespaceCount" || action == "GetNamespaceDatasetCount" ||
      action == "text-stats") {
    return Role::kRead;
  }
  if (action == "delete" || action == "snapshot" || action == "ForceSnapshot" ||
      action == "add-edge") {
    return Role::kWrite;
  }
  return Role::kAdmin;
}

AccessRequest ForAction(std::string_view type, std::string_view body) {
  AccessRequest request{"DoAction", std::string(type), RequiredRole(type), {}, false, false};
  if (!body.empty()) {
    auto json = ParseJson(body, "action body");
    if (json.ok()) {
      AddNamedDatasets(*json, &request.datasets);
      request.local_only = SaysLocalOnly(*json);
    }
  }
  request.forwardable = type == "delete" && request.local_only;
  // Handlers read an empty body, or one naming no dataset, as every dataset.
  request.every_dataset = request.datasets.empty() && CoversEveryDatasetWithoutOne(type);
  return request;
}

AccessRequest ForListFlights(std::string_view criteria) {
  AccessRequest request{"ListFlights", "", Role::kRead, {}, false, false};
  if (!criteria.empty()) {
    auto json = ParseJson(criteria, "ListFlights criteria");
    if (json.ok()) request.local_only = SaysLocalOnly(*json);
  }
  return request;
}

AccessRequest ForTicket(std::string_view ticket) {
  AccessRequest request{"DoGet", "", Role::kRead, {}, false, false};
  if (!ticket.empty() && ticket.front() != '{') {
    request.datasets.emplace_back(ticket);
    return request;
  }
  auto json = ParseJson(ticket, "ticket");
  if (json.ok() && json->is_object()) {
    AddNamedDatasets(*json, &request.datasets);
    request.local_only = SaysLocalOnly(*json);
    // A shard's segment shipped to a replica (flight/segment_shipping.h): a call between
    // cluster nodes, as action 'shard-segment'.
    if (auto segment = json->find("shard_segment"); segment != json->end()) {
      AddNamedDatasets(*segment, &request.datasets);
      request.action = "shard-segment";
      request.role = Role::kAdmin;
    }
    if (auto search = json->find("search"); search != json->end()) {
      AddNamedDatasets(*search, &request.datasets);
      request.local_only = request.local_only || SaysLocalOnly(*search);
    }
  }
  return request;
}

AccessRequest ForDescriptor(std::string method, const fl::FlightDescriptor& descriptor, Role role) {
  AccessRequest request{std::move(method), "", role, {}, false, false};
  if (descriptor.type == fl::FlightDescriptor::PATH) {
    for (const std::string& element : descriptor.path) request.datasets.push_back(element);
    // [dataset, "edges"]: the dataset's graph edges (flight/edge_put.h).
    if (descriptor.path.size() == 2 && descriptor.path[1] == "edges") request.datasets.pop_back();
  } else if (descriptor.type == fl::FlightDescriptor::CMD && role == Role::kWrite) {
    // A shard put between cluster nodes names the dataset in its command.
    auto json = ParseJson(descriptor.cmd, "descriptor");
    // A shard put stream (cluster/put_streams.h) too: its slices are of that dataset alone.
    for (const char* key : {"shard_put", "shard_put_stream"}) {
      if (json.ok() && json->is_object() && json->contains(key)) {
        AddNamedDatasets((*json)[key], &request.datasets);
        request.forwardable = true;
      }
    }
  }
  return request;
}

AccessRequest ForExchange(const fl::FlightDescriptor& descriptor) {
  AccessRequest request{"DoExchange", "", Role::kRead, {}, false, false};
  if (descriptor.type == fl::FlightDescriptor::PATH) {
    // ["ingest", dataset]; any other path is refused by the handler.
    request.role = Role::kWrite;
    for (size_t i = 1; i < descriptor.path.size(); ++i) {
      request.datasets.push_back(descriptor.path[i]);
    }
  }
  return request;
}

AccessDecision DecideDataset(const TokenEntry& token, const AccessRequest& request,
                             std::string_view dataset) {
  if (token.MayUse(dataset)) return {true, "", "", std::string(dataset)};
  return {false, "dataset",
          fmt::format("token '{}' may not use dataset '{}' ({} needs a token whose datasets "
                      "match it; this token's: {})",
                      token.id, dataset, Describe(request), token.DatasetsText()),
          std::string(dataset)};
}

AccessDecision Decide(const TokenEntry& token, const AccessRequest& request) {
  const std::string first = request.every_dataset      ? "*"
                            : request.datasets.empty() ? ""
                                                       : request.datasets.front();
  if (token.role == Role::kCluster) {
    if (request.forwardable) {
      return {false, "role",
              fmt::format("token '{}' has role cluster: {} between cluster nodes writes on a "
                          "client's behalf and must carry that client's token (header {}); "
                          "is the sending node an older build?",
                          token.id, Describe(request), kForwardedTokenHeader),
              first};
    }
    if ((request.role != Role::kRead || !request.local_only) &&
        !IsClusterInternalAction(request.action)) {
      return {false, "role",
              fmt::format("token '{}' has role cluster: it may only make the calls between "
                          "cluster nodes (read calls with local_only, shard-fence), not {}",
                          token.id, Describe(request)),
              first};
    }
  } else if (!RoleAllows(token.role, request.role)) {
    return {false, "role",
            fmt::format("token '{}' has role {}; {} needs role {}", token.id, RoleName(token.role),
                        Describe(request), RoleName(request.role)),
            first};
  }
  if (token.all_datasets()) return {true, "", "", first};
  if (request.every_dataset) {
    return {false, "dataset",
            fmt::format("{} without a 'dataset' covers every dataset; token '{}' may only use "
                        "datasets matching {}: name one",
                        Describe(request), token.id, token.DatasetsText()),
            first};
  }
  if (request.datasets.empty() && request.method != "DoExchange") {
    return {false, "dataset",
            fmt::format("{} names no dataset; token '{}' may only use datasets matching {}",
                        Describe(request), token.id, token.DatasetsText()),
            first};
  }
  for (const std::string& dataset : request.datasets) {
    AccessDecision decision = DecideDataset(token, request, dataset);
    if (!decision.allowed) return decision;
  }
  return {true, "", "", first};
}

AccessDecision DecideForwarded(const TokenEntry& cluster, const TokenEntry* client,
                               const AccessRequest& request) {
  const std::string first = request.datasets.empty() ? "" : request.datasets.front();
  if (!request.forwardable) {
    return {false, "role",
            fmt::format("token '{}' has role cluster: it may forward a client's token (header {}) "
                        "only on shard puts and local_only deletes, not {}",
                        cluster.id, kForwardedTokenHeader, Describe(request)),
            first};
  }
  if (!client) {
    return {false, "bad_token",
            fmt::format("the client token that cluster token '{}' forwarded with {} is not valid "
                        "on this node (unknown, revoked or altered: every node of a cluster needs "
                        "the same --auth-tokens file)",
                        cluster.id, Describe(request)),
            first};
  }
  if (client->role == Role::kCluster) {
    return {false, "role",
            fmt::format("cluster token '{}' forwarded token '{}' as a client's, but it has role "
                        "cluster: only a client's token may be forwarded",
                        cluster.id, client->id),
            first};
  }
  AccessDecision decision = Decide(*client, request);
  if (!decision.allowed) {
    decision.message += fmt::format(" (forwarded by cluster token '{}')", cluster.id);
  }
  return decision;
}

}  // namespace arbalest
