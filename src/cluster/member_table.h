// The members of the cluster as this node last saw them in etcd: filled from a range read of
// the members prefix, then kept current by the events of a watch on it. Records that do not
// parse are left out and logged (a member of a newer version must not break older ones).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/etcd_json.h"
#include "cluster/member.h"
#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class MemberTable {
 public:
  explicit MemberTable(std::string prefix) : prefix_(std::move(prefix)) {}

  // Replaces every member with those of a range read (`kvs` under the prefix) at `revision`.
  void Reset(const std::vector<etcd::KeyValue>& kvs, int64_t revision);
  // Applies one watch message's events (a PUT adds or updates a member, a DELETE removes it).
  // Returns whether the table changed.
  bool Apply(const etcd::WatchMessage& message);

  // Every member, by node id.
  std::vector<MemberInfo> Members() const;
  // Whether `node_id` is listed.
  bool Contains(const std::string& node_id) const;
  // The revision of the last read or event applied (a watch resumes after it).
  int64_t revision() const;

 private:
  // The node id of `key` (the part after the prefix); empty for a key outside it.
  std::string NodeIdOf(const std::string& key) const;
  void PutLocked(const etcd::KeyValue& kv) REQUIRES(mutex_);

  const std::string prefix_;
  mutable Mutex mutex_;
  std::map<std::string, MemberInfo> members_ GUARDED_BY(mutex_);
  int64_t revision_ GUARDED_BY(mutex_) = 0;
};

}  // namespace arbalest
