// One member of a cluster as it publishes itself under /<cluster>/members/<node-id> in etcd:
// where its Flight data, meta and metrics ports answer, its version and start time. The value
// is JSON; a node reads what other nodes (possibly of other versions) wrote, so unknown keys
// are ignored and only node_id and flight are required.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"

namespace arbalest {

struct MemberInfo {
  std::string node_id;
  std::string flight;   // host:port of the data port (DoGet, DoAction, DoExchange)
  std::string meta;     // host:port of the meta port
  std::string metrics;  // host:port of the metrics port (http)
  std::string version;
  int64_t started_at_ms = 0;  // Unix time in milliseconds
  // The node is draining (docs/cluster.md, "Drain"): it hands its shards over before it
  // leaves, and no new replica is placed on it. Written only while true.
  bool draining = false;

  Json ToJson() const;
};

// Parses a member's etcd value. Invalid names what is missing or malformed.
arrow::Result<MemberInfo> ParseMemberInfo(std::string_view text);

// The node ids of `members`; with `draining_only`, of those that are draining.
std::set<std::string> MemberIds(const std::vector<MemberInfo>& members, bool draining_only = false);

// The etcd key prefix of `cluster`'s members: "/<cluster>/members/".
std::string MembersPrefix(std::string_view cluster);

// The default node id for an advertised host:port: the address with ':' made '-'.
std::string DefaultNodeId(std::string_view advertise);

// Invalid unless `id` is 1 to 128 characters of [A-Za-z0-9._-] (it ends an etcd key and names
// the node in errors and metrics).
arrow::Status ValidateNodeId(std::string_view id);
// Invalid unless `name` is 1 to 64 characters of [A-Za-z0-9._-].
arrow::Status ValidateClusterName(std::string_view name);

}  // namespace arbalest
