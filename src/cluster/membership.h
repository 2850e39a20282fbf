// This node's membership in an etcd-coordinated cluster. Joining grants a lease (TTL a few
// seconds), puts this node's record under /<cluster>/members/<node-id> with it, reads the
// members and watches that prefix (a streaming watch, no polling). Two threads then keep it:
//   - the lease keeper sends a keepalive every TTL/3; when etcd says the lease is gone (it
//     expired while etcd was unreachable, or etcd lost it) it grants a new one and puts the key
//     again (a rejoin);
//   - the watcher applies watch events to the member table; when the stream breaks it reads the
//     members again and re-watches from that revision.
// While either fails the node is degraded: it keeps serving with the member list it last saw,
// and recovers by itself once etcd answers again. Leaving revokes the lease, so that the key
// disappears at once rather than after the TTL.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_metrics.h"
#include "cluster/etcd_client.h"
#include "cluster/member_table.h"
#include "common/mutex.h"

namespace arbalest {

struct MembershipOptions {
  std::vector<std::string> etcd_endpoints;
  std::string cluster;
  MemberInfo self;
  int64_t lease_ttl_seconds = 5;
  std::chrono::milliseconds etcd_timeout{2000};  // one etcd call (connecting included)
  etcd::ClientTls etcd_tls;
  // Called by the watcher when another member left the list (its key deleted: its lease
  // expired or was revoked; or gone from a fresh read after the watch broke). May be empty;
  // must not block.
  std::function<void()> on_member_left;
};

// What cluster-status reports about etcd.
struct MembershipHealth {
  bool degraded = false;
  std::string reason;             // why degraded ("" when not)
  int64_t degraded_since_ms = 0;  // Unix ms; 0 when not degraded
  int64_t lease = 0;
  int64_t rejoins = 0;
};

// Thread-safe.
class Membership {
 public:
  // Joins the cluster as above and starts both threads. IOError when etcd does not answer,
  // AlreadyExists when another live member has this node's id (the node then has not joined and
  // nothing runs).
  static arrow::Result<std::unique_ptr<Membership>> Join(MembershipOptions options,
                                                         std::shared_ptr<ClusterMetrics> metrics);
  ~Membership();  // Leave()

  // Stops both threads and revokes the lease (best effort: etcd may be gone). Idempotent.
  void Leave();

  // Publishes this node as draining (its member record's "draining": true, kept on a rejoin).
  // IOError when etcd does not answer.
  arrow::Status SetDraining();
  bool draining() const;

  const MembershipOptions& options() const { return options_; }
  std::vector<MemberInfo> members() const { return table_.Members(); }
  MembershipHealth health() const;

 private:
  Membership(MembershipOptions options, std::shared_ptr<ClusterMetrics> metrics);

  // AlreadyExists when another live member (at another address) holds this node's id; this
  // node restarting at its own address takes its key over.
  arrow::Status CheckNodeIdFree();
  // This node's record as it is put in etcd.
  std::string Value() const;
  // Grants a lease and puts this node's key with it.
  arrow::Status Register();
  // One turn of the lease keeper.
  arrow::Status KeepLease();
  void RunLeaseKeeper();
  void RunWatcher();
  // Reads the members, then watches until the stream breaks or Leave.
  arrow::Status ReadAndWatch();
  // Calls options_.on_member_left, when set.
  void MemberLeft();
  // Records the outcome of an etcd call by the lease keeper (`lease`) or the watcher.
  void Report(bool lease, const arrow::Status& status);
  // Waits `interval` or until Leave (or, with `wake_on_key_lost`, until the watch sees this
  // node's key deleted); false once leaving.
  bool Sleep(std::chrono::milliseconds interval, bool wake_on_key_lost);

  const MembershipOptions options_;
  const std::string key_;
  const std::shared_ptr<ClusterMetrics> metrics_;
  etcd::Client etcd_;
  MemberTable table_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> key_lost_{false};  // the watch saw this node's key deleted
  // Set by the lease keeper when etcd answers again after failing: the watch, which may sit on
  // a connection that died silently, starts over.
  std::atomic<bool> restart_watch_{false};

  mutable Mutex mutex_;
  CondVar wake_;
  int64_t lease_ GUARDED_BY(mutex_) = 0;
  std::string value_ GUARDED_BY(mutex_);  // this node's record (options_.self, as draining)
  bool draining_ GUARDED_BY(mutex_) = false;
  arrow::Status lease_status_ GUARDED_BY(mutex_);
  arrow::Status watch_status_ GUARDED_BY(mutex_);
  int64_t degraded_since_ms_ GUARDED_BY(mutex_) = 0;
  int64_t rejoins_ GUARDED_BY(mutex_) = 0;

  std::thread lease_keeper_;
  std::thread watcher_;
};

}  // namespace arbalest
