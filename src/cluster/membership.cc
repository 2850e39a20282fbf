#include "cluster/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "common/thread_name.h"

namespace arbalest {
namespace {

// How long the watcher waits before reading the members again after a broken watch.
constexpr std::chrono::milliseconds kWatchRetry{500};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Membership::Membership(MembershipOptions options, std::shared_ptr<ClusterMetrics> metrics)
    : options_(std::move(options)),
      key_(MembersPrefix(options_.cluster) + options_.self.node_id),
      metrics_(std::move(metrics)),
      etcd_(options_.etcd_endpoints, options_.etcd_timeout, options_.etcd_tls),
      table_(MembersPrefix(options_.cluster)) {
  MutexLock lock(&mutex_);
  value_ = options_.self.ToJson().dump();
}

std::string Membership::Value() const {
  MutexLock lock(&mutex_);
  return value_;
}

bool Membership::draining() const {
  MutexLock lock(&mutex_);
  return draining_;
}

arrow::Status Membership::SetDraining() {
  MemberInfo self = options_.self;
  self.draining = true;
  int64_t lease = 0;
  {
    MutexLock lock(&mutex_);
    draining_ = true;
    value_ = self.ToJson().dump();
    lease = lease_;
  }
  // The lease keeper puts the same value again when it rejoins.
  return etcd_.Put(key_, Value(), lease);
}

arrow::Result<std::unique_ptr<Membership>> Membership::Join(
    MembershipOptions options, std::shared_ptr<ClusterMetrics> metrics) {
  std::unique_ptr<Membership> membership(new Membership(std::move(options), std::move(metrics)));
  ARROW_RETURN_NOT_OK(membership->CheckNodeIdFree());
  ARROW_RETURN_NOT_OK(membership->Register());
  ARROW_ASSIGN_OR_RAISE(auto members,
                        membership->etcd_.RangePrefix(MembersPrefix(membership->options_.cluster)));
  membership->table_.Reset(members.kvs, members.revision);
  membership->metrics_->SetMembers(static_cast<int64_t>(membership->table_.Members().size()));
  membership->metrics_->SetDegraded(false);
  membership->lease_keeper_ = std::thread([m = membership.get()] { m->RunLeaseKeeper(); });
  membership->watcher_ = std::thread([m = membership.get()] { m->RunWatcher(); });
  return membership;
}

Membership::~Membership() { Leave(); }

void Membership::Leave() {
  if (stopping_.exchange(true)) return;
  {
    MutexLock lock(&mutex_);
    wake_.SignalAll();
  }
  if (lease_keeper_.joinable()) lease_keeper_.join();
  if (watcher_.joinable()) watcher_.join();
  int64_t lease = 0;
  {
    MutexLock lock(&mutex_);
    lease = lease_;
  }
  if (lease != 0) {
    if (auto status = etcd_.RevokeLease(lease); !status.ok()) {
      spdlog::warn(
          "cluster: could not revoke lease {} on leaving ({}); the member key expires "
          "with it",
          lease, status.message());
    }
  }
}

MembershipHealth Membership::health() const {
  MutexLock lock(&mutex_);
  MembershipHealth health;
  health.lease = lease_;
  health.rejoins = rejoins_;
  if (!lease_status_.ok() || !watch_status_.ok()) {
    health.degraded = true;
    health.reason = !lease_status_.ok() ? lease_status_.message() : watch_status_.message();
    health.degraded_since_ms = degraded_since_ms_;
  }
  return health;
}

arrow::Status Membership::CheckNodeIdFree() {
  ARROW_ASSIGN_OR_RAISE(auto existing, etcd_.RangePrefix(key_));
  for (const auto& kv : existing.kvs) {
    if (kv.key != key_) continue;
    auto member = ParseMemberInfo(kv.value);
    if (member.ok() && member->flight != options_.self.flight) {
      return arrow::Status::AlreadyExists(
          "node id '", options_.self.node_id, "' is taken by a live member at ", member->flight,
          " (--node-id); give this node another id, or wait for that member's lease (",
          options_.lease_ttl_seconds, " s) to expire if it is this node's previous address");
    }
  }
  return arrow::Status::OK();
}

arrow::Status Membership::Register() {
  ARROW_ASSIGN_OR_RAISE(etcd::Lease lease, etcd_.GrantLease(options_.lease_ttl_seconds));
  ARROW_RETURN_NOT_OK(etcd_.Put(key_, Value(), lease.id));
  MutexLock lock(&mutex_);
  if (lease_ != 0) {
    ++rejoins_;
    metrics_->Rejoined();
  }
  lease_ = lease.id;
  return arrow::Status::OK();
}

arrow::Status Membership::KeepLease() {
  int64_t lease = 0;
  bool was_failing = false;
  {
    MutexLock lock(&mutex_);
    lease = lease_;
    was_failing = !lease_status_.ok();
  }
  if (key_lost_.exchange(false)) {
    spdlog::warn("cluster: this node's member key {} was deleted; publishing it again", key_);
    return Register();
  }
  ARROW_ASSIGN_OR_RAISE(int64_t ttl, etcd_.KeepAlive(lease));
  if (ttl <= 0) {
    spdlog::warn(
        "cluster: lease {} expired (etcd was unreachable for longer than its TTL); "
        "rejoining with a new lease",
        lease);
    return Register();
  }
  // Back from an outage within the TTL: the key is still there; put it again in case etcd
  // lost it (restored from an older state).
  if (was_failing) {
    ARROW_RETURN_NOT_OK(etcd_.Put(key_, Value(), lease));
    restart_watch_ = true;
  }
  return arrow::Status::OK();
}

void Membership::RunLeaseKeeper() {
  SetCurrentThreadName("arb-etcd-lease");
  const auto interval =
      std::chrono::milliseconds(std::max<int64_t>(200, options_.lease_ttl_seconds * 1000 / 3));
  while (Sleep(interval, /*wake_on_key_lost=*/true)) Report(/*lease=*/true, KeepLease());
}

void Membership::RunWatcher() {
  SetCurrentThreadName("arb-etcd-watch");
  while (!stopping_.load()) {
    arrow::Status status = ReadAndWatch();
    if (stopping_.load()) break;
    Report(/*lease=*/false, status);
    if (!Sleep(kWatchRetry, /*wake_on_key_lost=*/false)) break;
  }
}

void Membership::MemberLeft() {
  if (options_.on_member_left) options_.on_member_left();
}

arrow::Status Membership::ReadAndWatch() {
  const std::string prefix = MembersPrefix(options_.cluster);
  ARROW_ASSIGN_OR_RAISE(auto members, etcd_.RangePrefix(prefix));
  const std::set<std::string> before = MemberIds(table_.Members());
  table_.Reset(members.kvs, members.revision);
  metrics_->SetMembers(static_cast<int64_t>(table_.Members().size()));
  const std::set<std::string> after = MemberIds(table_.Members());
  if (std::any_of(before.begin(), before.end(),
                  [&](const std::string& id) { return after.count(id) == 0; })) {
    MemberLeft();
  }
  return etcd_.Watch(
      prefix, members.revision + 1,
      [this](const etcd::WatchMessage& message) -> arrow::Status {
        if (message.canceled) {
          return arrow::Status::IOError("etcd cancelled the watch: ", message.cancel_reason.empty()
                                                                          ? "compacted revision"
                                                                          : message.cancel_reason);
        }
        if (message.created) Report(/*lease=*/false, arrow::Status::OK());
        if (table_.Apply(message)) {
          metrics_->SetMembers(static_cast<int64_t>(table_.Members().size()));
        }
        bool left = false;
        for (const auto& event : message.events) {
          if (event.deleted && event.kv.key == key_) {
            key_lost_ = true;
            MutexLock lock(&mutex_);
            wake_.SignalAll();
          } else if (event.deleted) {
            left = true;
          }
        }
        if (left) MemberLeft();
        return arrow::Status::OK();
      },
      [this] { return stopping_.load() || restart_watch_.exchange(false); });
}

void Membership::Report(bool lease, const arrow::Status& status) {
  if (stopping_.load()) return;
  MutexLock lock(&mutex_);
  const bool was_degraded = !lease_status_.ok() || !watch_status_.ok();
  (lease ? lease_status_ : watch_status_) = status;
  const bool degraded = !lease_status_.ok() || !watch_status_.ok();
  if (!status.ok()) metrics_->EtcdError();
  if (degraded && !was_degraded) {
    degraded_since_ms_ = NowMs();
    spdlog::warn("cluster: degraded, serving with the last known members: {}", status.message());
  } else if (!degraded && was_degraded) {
    degraded_since_ms_ = 0;
    spdlog::info("cluster: etcd reachable again; member key {} published, members watched", key_);
  }
  metrics_->SetDegraded(degraded);
}

bool Membership::Sleep(std::chrono::milliseconds interval, bool wake_on_key_lost) {
  const auto deadline = std::chrono::steady_clock::now() + interval;
  MutexLock lock(&mutex_);
  while (!stopping_.load() && !(wake_on_key_lost && key_lost_.load())) {
    if (!wake_.WaitUntil(&mutex_, deadline)) break;
  }
  return !stopping_.load();
}

}  // namespace arbalest
