// What the fan-outs of a cluster node (cluster_node.cc, cluster_shards.cc, shard_puts.cc) share
// about their calls to peers: why a peer's part is missing, whether its failure means the peer
// is unreachable (its client is dropped then), and the keys a hop carries.
#pragma once

#include <arrow/status.h>

#include <chrono>
#include <string>

#include "cluster/member.h"
#include "common/json_util.h"

namespace arbalest {

// Why `peer`'s part is missing, from the error of its call; names the peer's address, and
// for refusals of this node's TLS or token, the flag to check.
std::string MissingReason(const arrow::Status& status, std::chrono::milliseconds timeout,
                          const MemberInfo& peer, bool tls);

// Whether a call failed because its peer did not answer (UNAVAILABLE or a timeout).
bool PeerUnreachable(const arrow::Status& status);

// The keys of a hop's DoGet ticket or action body: the client's keys, answered by the member
// alone.
Json HopKeys(const Json& keys);

}  // namespace arbalest
