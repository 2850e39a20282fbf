// What each call needs of a token (docs/security.md): its role and the datasets it touches,
// read from the request the same way the handlers read it. Pure functions, unit-tested.
#pragma once

#include <arrow/flight/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "security/tokens.h"

namespace arbalest {

struct AccessRequest {
  std::string method;  // DoGet, DoAction, ...
  std::string action;  // DoAction's type
  Role role = Role::kRead;
  // The datasets the call names (a request may name one under several keys: all are checked).
  std::vector<std::string> datasets;
  // The call covers every dataset (stats, snapshot or check_readiness without one).
  bool every_dataset = false;
  // The request says "local_only": true (in the ticket, its "search" object or the action
  // body): a call between cluster nodes, the only kind a token of role cluster may make.
  bool local_only = false;
  // A write that a cluster node makes on a client's behalf: a shard put (DoPut of a CMD
  // descriptor {"shard_put": {"dataset", ...}} or a put stream's {"shard_put_stream":
  // {"dataset"}}) or a delete with local_only. A token of role
  // cluster may make it only with the client's token forwarded (call_credentials.h), and then
  // that token is checked as if the client made the call (DecideForwarded).
  bool forwardable = false;
};

// The role an action needs: read for searches, stats and check_readiness; write for delete and
// snapshot; admin for compact, delete-dataset and any action this table does not know.
Role RequiredRole(std::string_view action);

AccessRequest ForAction(std::string_view type, std::string_view body);
AccessRequest ForTicket(std::string_view ticket);
// GetFlightInfo, GetSchema (read) and DoPut (write): a PATH descriptor naming the dataset.
AccessRequest ForDescriptor(std::string method, const arrow::flight::FlightDescriptor& descriptor,
                            Role role);
// ListFlights (read): local_only when its criteria say so (a cluster node's catalog hop).
AccessRequest ForListFlights(std::string_view criteria);
// DoExchange: path ["ingest", dataset] (write) or cmd VectorSearch (read; its datasets come in
// the batches and are checked as they arrive).
AccessRequest ForExchange(const arrow::flight::FlightDescriptor& descriptor);

struct AccessDecision {
  bool allowed = true;
  std::string reason;   // "role" or "dataset" when refused (the metric's label)
  std::string message;  // for the client and the audit log
  std::string dataset;  // the dataset refused, or the first one named; "*" for every dataset
};

// Whether `token` may make the call. A token of role cluster may make only read calls that say
// local_only (the hops of a cluster search), `shard-fence`, `shard-digest`, `shard-segments`
// and the `shard_segment` DoGet ticket (a replica's catch-up; that ticket needs role admin of
// other tokens), on the datasets its patterns allow. A shard's local dataset, "<name>.__shard<n>",
// is checked as <name>: a token that may use a dataset may use its shards.
AccessDecision Decide(const TokenEntry& token, const AccessRequest& request);

// Whether the cluster node whose token is `cluster` may make `request` (a forwardable write)
// on behalf of the client whose token it forwarded, `client` (null: not a valid token here):
// `client` decides, as if it made the call; a cluster token may not be forwarded. Messages name
// both tokens.
AccessDecision DecideForwarded(const TokenEntry& cluster, const TokenEntry* client,
                               const AccessRequest& request);

// Whether `token` may use `dataset` (for the rows of a VectorSearch exchange).
AccessDecision DecideDataset(const TokenEntry& token, const AccessRequest& request,
                             std::string_view dataset);

}  // namespace arbalest
