#include "cluster/member_table.h"

#include <spdlog/spdlog.h>

namespace arbalest {

std::string MemberTable::NodeIdOf(const std::string& key) const {
  if (key.size() <= prefix_.size() || key.compare(0, prefix_.size(), prefix_) != 0) return {};
  return key.substr(prefix_.size());
}

void MemberTable::PutLocked(const etcd::KeyValue& kv) {
  const std::string node_id = NodeIdOf(kv.key);
  if (node_id.empty()) return;
  auto member = ParseMemberInfo(kv.value);
  if (!member.ok()) {
    spdlog::warn("cluster: ignoring the member record under {}: {}", kv.key,
                 member.status().message());
    members_.erase(node_id);
    return;
  }
  member->node_id = node_id;  // the key names the member
  members_[node_id] = std::move(*member);
}

void MemberTable::Reset(const std::vector<etcd::KeyValue>& kvs, int64_t revision) {
  MutexLock lock(&mutex_);
  members_.clear();
  for (const auto& kv : kvs) PutLocked(kv);
  revision_ = revision;
}

bool MemberTable::Apply(const etcd::WatchMessage& message) {
  MutexLock lock(&mutex_);
  for (const auto& event : message.events) {
    if (event.deleted) {
      members_.erase(NodeIdOf(event.kv.key));
    } else {
      PutLocked(event.kv);
    }
  }
  if (message.revision > revision_) revision_ = message.revision;
  return !message.events.empty();
}

std::vector<MemberInfo> MemberTable::Members() const {
  MutexLock lock(&mutex_);
  std::vector<MemberInfo> members;
  members.reserve(members_.size());
  for (const auto& [id, member] : members_) members.push_back(member);
  return members;
}

bool MemberTable::Contains(const std::string& node_id) const {
  MutexLock lock(&mutex_);
  return members_.count(node_id) > 0;
}

int64_t MemberTable::revision() const {
  MutexLock lock(&mutex_);
  return revision_;
}

}  // namespace arbalest
