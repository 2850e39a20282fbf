// ClusterNode's calls to one replica of a shard (cluster_shards.cc): a replica on this node is
// answered in-process, through the Flight service's own handlers (LocalReads), with the
// ticket or action body the hop would carry (local_only); any other goes over Flight. The
// answers and errors are the same either way; a loopback hop costs a gRPC round trip, a
// serialisation of the rows each way and a thread of the server's.
#include <arrow/table.h>

#include "cluster/cluster_node.h"

namespace arbalest {

std::optional<LocalReads> ClusterNode::LocalReadsFor(const MemberInfo& member) const {
  if (member.node_id != SelfId()) return std::nullopt;
  MutexLock lock(&mutex_);
  return local_reads_;
}

void ClusterNode::AttachLocalReads(LocalReads reads) {
  digests_.ChargeTo(reads.memory);
  MutexLock lock(&mutex_);
  local_reads_ = std::move(reads);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ClusterNode::SearchShard(
    const MemberInfo& member, const std::string& ticket, std::chrono::milliseconds timeout) {
  const auto local = LocalReadsFor(member);
  if (!local) return SearchPeer(member, ticket, timeout);
  ARROW_ASSIGN_OR_RAISE(auto reader, local->get(ticket));
  ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
  return table->CombineChunksToBatch();
}

arrow::Result<ScanPart> ClusterNode::ScanShard(const MemberInfo& member, const std::string& ticket,
                                               std::chrono::milliseconds timeout) {
  const auto local = LocalReadsFor(member);
  if (!local) return OpenPeerScan(member, ticket, timeout);
  ARROW_ASSIGN_OR_RAISE(auto reader, local->get(ticket));
  return ScanPart{std::move(reader), nullptr};
}

arrow::Result<Json> ClusterNode::ActionShard(const MemberInfo& member, const std::string& type,
                                             const std::string& body,
                                             std::chrono::milliseconds timeout,
                                             const std::string& forwarded_token) {
  const auto local = LocalReadsFor(member);
  if (!local) return ActionPeer(member, type, body, timeout, forwarded_token);
  return local->action(type, body);
}

}  // namespace arbalest
