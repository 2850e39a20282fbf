#include "cluster/cluster_node.h"

#include <arrow/flight/types.h>
#include <arrow/table.h>
#include <spdlog/spdlog.h>

#include <future>
#include <thread>

#include "cluster/catalog_merge.h"
#include "cluster/cluster_record.h"
#include "cluster/fan_out_util.h"
#include "cluster/scan_chain.h"
#include "cluster/search_merge.h"
#include "flight/call_credentials.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

arrow::Result<std::shared_ptr<ClusterNode>> ClusterNode::Create(ClusterOptions options,
                                                                prometheus::Registry& registry) {
  ARROW_RETURN_NOT_OK(ValidateClusterName(options.cluster));
  if (!options.node_id.empty()) ARROW_RETURN_NOT_OK(ValidateNodeId(options.node_id));
  ARROW_RETURN_NOT_OK(CheckClusterRecord(options.data_dir, options.cluster));
  etcd::Client etcd(options.etcd_endpoints, options.etcd_timeout, options.etcd_tls);
  if (auto read = etcd.RangePrefix(MembersPrefix(options.cluster)); !read.ok()) {
    return arrow::Status::IOError(
        "cannot reach etcd (--cluster-etcd ",
        fmt::format("{}", fmt::join(options.etcd_endpoints, ",")), "): ", read.status().message(),
        "; a cluster node does not start without etcd (start etcd first, or leave out "
        "--cluster-etcd for a single node)");
  }
  auto metrics = std::make_shared<ClusterMetrics>(registry);
  return std::shared_ptr<ClusterNode>(new ClusterNode(std::move(options), std::move(metrics)));
}

ClusterNode::~ClusterNode() {
  Leave();
  attempts_.WaitIdle();  // a hedged loser ends by its call's deadline
}

arrow::Status ClusterNode::Join(const AdvertisedAddresses& addresses) {
  MembershipOptions membership;
  membership.etcd_endpoints = options_.etcd_endpoints;
  membership.cluster = options_.cluster;
  membership.lease_ttl_seconds = options_.lease_ttl_seconds;
  membership.etcd_timeout = options_.etcd_timeout;
  membership.etcd_tls = options_.etcd_tls;
  // Failover at once when a member leaves, not at the repairer's next pass.
  membership.on_member_left = [this] {
    MutexLock lock(&mutex_);
    if (repairer_) repairer_->Wake();
  };
  membership.self =
      MemberInfo{options_.node_id.empty() ? DefaultNodeId(addresses.flight) : options_.node_id,
                 addresses.flight,
                 addresses.meta,
                 addresses.metrics,
                 ARBALEST_VERSION,
                 NowMs()};
  ARROW_RETURN_NOT_OK(ValidateNodeId(membership.self.node_id));
  // Shard copies this node holds without being their replica any more (it was away while its
  // shards failed over) are kept, unread, for a catch-up to reconcile when a move gives them
  // back (shard_catchup.h).
  auto catchup = std::make_unique<ShardCatchup>(CatchupEnvironment());
  if (auto kept = catchup->KeepBeforeJoining(membership.self.node_id); !kept.ok()) {
    spdlog::warn("cluster {}: stale shard copies not noted before joining: {}", options_.cluster,
                 kept.status().message());
  } else if (*kept > 0) {
    spdlog::info("cluster {}: {} shard copies kept from before this node was away",
                 options_.cluster, *kept);
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Membership> joined,
                        Membership::Join(std::move(membership), metrics_));
  ARROW_RETURN_NOT_OK(WriteClusterRecord(options_.data_dir, options_.cluster));
  spdlog::info("cluster {}: joined as {} ({} members, lease TTL {} s)", options_.cluster,
               joined->options().self.node_id, joined->members().size(),
               options_.lease_ttl_seconds);
  MutexLock lock(&mutex_);
  membership_ = std::move(joined);
  repairer_ = std::make_unique<ShardRepairer>(
      maps_, [this] { return LiveMembers(); },
      [this] {
        const auto membership = this->membership();
        return !membership || membership->health().degraded;
      },
      std::chrono::milliseconds(std::max<int64_t>(500, options_.lease_ttl_seconds * 1000 / 4)));
  catchup_ = std::move(catchup);
  // A map that names this node a syncing replica (a drain's copy, a move, a failover) starts its
  // catch-up at once, not at the next pass.
  maps_.SetOnChange([this] {
    MutexLock lock(&mutex_);
    if (catchup_) catchup_->Wake();
  });
  maps_.StartWatch();
  return arrow::Status::OK();
}

DrainReport ClusterNode::Drain(std::chrono::milliseconds timeout, const std::atomic<bool>& abort) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  DrainReport report;
  const auto membership = this->membership();
  if (!membership) return report;
  if (auto marked = membership->SetDraining(); !marked.ok()) {
    report.left.push_back("*: not published as draining: " + marked.message());
    spdlog::warn("cluster {}: drain: {}; leaving without handing shards over", options_.cluster,
                 report.Summary());
    return report;
  }
  spdlog::info("cluster {}: draining (at most {} ms; a second SIGTERM or SIGINT leaves at once)",
               options_.cluster, timeout.count());
  DrainEnv env;
  env.maps = &maps_;
  env.fences = &fences_;
  env.self_id = membership->options().self.node_id;
  env.members = [this] { return LiveMembers(); };
  env.fence_wait = options_.put_timeout;
  report = DrainShards(env, deadline, abort);
  // Searches that read a map before the last hand-over may still ask this node: it answers
  // them for the age of a cached map (the watch delivers the change sooner).
  const auto linger_until =
      std::min(deadline, std::chrono::steady_clock::now() + ShardMaps::kMaxAge);
  while (!report.handed_over.empty() && !abort && std::chrono::steady_clock::now() < linger_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::log(report.finished ? spdlog::level::info : spdlog::level::warn, "cluster {}: {}",
              options_.cluster, report.Summary());
  MutexLock lock(&mutex_);
  drain_ = report.ToJson();
  return report;
}

void ClusterNode::Leave() {
  std::shared_ptr<Membership> membership;
  std::unique_ptr<ShardRepairer> repairer;
  std::unique_ptr<ShardCatchup> catchup;
  {
    MutexLock lock(&mutex_);
    membership = std::move(membership_);
    repairer = std::move(repairer_);
    catchup = std::move(catchup_);
  }
  catchup.reset();   // stops its thread, which reads the members
  repairer.reset();  // the same
  maps_.StopWatch();
  if (membership) {
    membership->Leave();
    spdlog::info("cluster {}: left", options_.cluster);
  }
}

std::shared_ptr<Membership> ClusterNode::membership() const {
  MutexLock lock(&mutex_);
  return membership_;
}

Json ClusterNode::Status() const {
  Json status{{"mode", "cluster"},
              {"cluster", options_.cluster},
              {"etcd", options_.etcd_endpoints},
              {"lease_ttl_seconds", options_.lease_ttl_seconds},
              {"search_timeout_ms", options_.search_timeout.count()}};
  const auto membership = this->membership();
  if (!membership) {
    status["state"] = "joining";
    status["degraded"] = false;
    status["members"] = Json::array();
    return status;
  }
  const MembershipHealth health = membership->health();
  const MemberInfo& self = membership->options().self;
  const bool draining = membership->draining();
  status["state"] = health.degraded ? "degraded" : draining ? "draining" : "ok";
  status["draining"] = draining;
  status["degraded"] = health.degraded;
  if (health.degraded) {
    status["degraded_reason"] = health.reason;
    status["degraded_since_ms"] = health.degraded_since_ms;
  }
  status["rejoins"] = health.rejoins;
  status["node_id"] = self.node_id;
  status["this_node"] = self.ToJson();
  Json members = Json::array();
  for (const auto& member : membership->members()) {
    Json entry = member.ToJson();
    // Listed in etcd: its lease is kept; draining: it hands its shards over before it leaves.
    entry["state"] = member.draining ? "draining" : "alive";
    entry["self"] = member.node_id == self.node_id;
    members.push_back(std::move(entry));
  }
  status["members"] = std::move(members);
  status["sharding"] = {{"shards", options_.shards},
                        {"replication", options_.replication},
                        {"write_quorum", options_.write_quorum},
                        {"put_timeout_ms", options_.put_timeout.count()}};
  status["shard_maps"] = ShardMapsStatus();
  status["digest_cache"] = digests_.stats().ToJson();
  const PutStreamCounts streams = streams_.counts();
  status["put_streams"] = {{"open", streams.open},
                           {"opened", streams.opened},
                           {"slices", streams.slices},
                           {"broken", streams.broken},
                           {"cancelled", streams.cancelled}};
  const ThreadCache::Counts put_threads = put_threads_.counts();
  status["put_threads"] = {{"threads", put_threads.threads},
                           {"idle", put_threads.idle},
                           {"started", put_threads.started},
                           {"tasks", put_threads.tasks}};
  status["shard_maps_watch"] = maps_.WatchStatus();
  {
    MutexLock lock(&mutex_);
    if (catchup_) status["catchup"] = catchup_->Status();
    if (drain_) status["drain"] = *drain_;
  }
  return status;
}

std::string ClusterNode::ReadyDetail() const {
  const auto membership = this->membership();
  if (!membership) return "cluster " + options_.cluster + ": joining";
  const MembershipHealth health = membership->health();
  const std::string members = std::to_string(membership->members().size()) + " members";
  if (!health.degraded) return "cluster " + options_.cluster + ": ok, " + members;
  return "cluster " + options_.cluster + ": degraded (etcd unreachable: " + health.reason +
         "), serving with the last known " + members;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ClusterNode::SearchPeer(
    const MemberInfo& peer, const std::string& ticket, std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(auto client, peers_.Get(peer.flight));
  const fl::FlightCallOptions call = peers_.CallOptions(timeout);
  auto result = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
    ARROW_ASSIGN_OR_RAISE(auto reader, client->DoGet(call, fl::Ticket{ticket}));
    ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
    return table->CombineChunksToBatch();
  }();
  if (!result.ok() && PeerUnreachable(result.status())) peers_.Drop(peer.flight);
  return result;
}

arrow::Result<ScanPart> ClusterNode::OpenPeerScan(const MemberInfo& peer, const std::string& ticket,
                                                  std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(auto client, peers_.Get(peer.flight));
  const fl::FlightCallOptions call = peers_.CallOptions(timeout);
  auto result = [&]() -> arrow::Result<ScanPart> {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<fl::FlightStreamReader> stream,
                          client->DoGet(call, fl::Ticket{ticket}));
    ARROW_RETURN_NOT_OK(stream->GetSchema().status());  // the peer's first message, or its error
    ARROW_ASSIGN_OR_RAISE(auto reader, fl::MakeRecordBatchReader(stream));
    return ScanPart{std::move(reader), client};
  }();
  if (!result.ok() && PeerUnreachable(result.status())) peers_.Drop(peer.flight);
  return result;
}

arrow::Result<Json> ClusterNode::ActionPeer(const MemberInfo& peer, const std::string& type,
                                            const std::string& body,
                                            std::chrono::milliseconds timeout,
                                            const std::string& forwarded_token) {
  ARROW_ASSIGN_OR_RAISE(auto client, peers_.Get(peer.flight));
  fl::FlightCallOptions call = peers_.CallOptions(timeout);
  if (peers_.carries_token()) ForwardToken(&call, forwarded_token);
  auto result = [&]() -> arrow::Result<Json> {
    ARROW_ASSIGN_OR_RAISE(
        auto stream, client->DoAction(call, fl::Action{type, arrow::Buffer::FromString(body)}));
    ARROW_ASSIGN_OR_RAISE(auto first, stream->Next());
    if (!first) return arrow::Status::IOError("action '", type, "' answered nothing");
    ARROW_RETURN_NOT_OK(stream->Drain());
    return ParseJson(first->body->ToString(), "the member's answer");
  }();
  if (!result.ok() && PeerUnreachable(result.status())) peers_.Drop(peer.flight);
  return result;
}

std::string ClusterNode::SelfId() const {
  const auto membership = this->membership();
  return membership ? membership->options().self.node_id : options_.node_id;
}

std::vector<MemberInfo> ClusterNode::Peers(std::string* self_id) {
  const auto membership = this->membership();
  std::vector<MemberInfo> peers;
  *self_id = options_.node_id;
  if (membership) {
    const MemberInfo& self = membership->options().self;
    *self_id = self.node_id;
    for (auto& member : membership->members()) {
      // A key of this node's address under another id (a restart with a new --node-id, until
      // the old lease expires) is this node too: asking it would count its rows twice.
      if (member.node_id != self.node_id && member.flight != self.flight) {
        peers.push_back(std::move(member));
      }
    }
  }
  std::vector<std::string> addresses;
  if (membership) addresses.push_back(membership->options().self.flight);  // shard hops to self
  for (const auto& peer : peers) addresses.push_back(peer.flight);
  peers_.KeepOnly(addresses);
  return peers;
}

template <typename Part>
arrow::Result<std::vector<Part>> ClusterNode::FanOut(
    const FanOutOptions& options, const std::function<arrow::Result<Part>()>& local,
    const std::function<arrow::Result<Part>(const MemberInfo&, std::chrono::milliseconds)>&
        ask_peer,
    const std::function<std::shared_ptr<arrow::Schema>(const Part&)>& schema_of,
    std::vector<MissingNode>* missing) {
  std::string self_id;
  const std::vector<MemberInfo> peers = Peers(&self_id);
  if (peers.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto part, local());
    return std::vector<Part>{std::move(part)};
  }
  const auto timeout = (options.timeout_ms ? std::chrono::milliseconds(*options.timeout_ms)
                                           : options_.search_timeout) +
                       std::chrono::milliseconds(options.extra_timeout_ms);
  std::vector<std::future<arrow::Result<Part>>> answers;
  answers.reserve(peers.size());
  for (const auto& peer : peers) {
    answers.push_back(
        hop_threads_.Submit([&peer, timeout, &ask_peer] { return ask_peer(peer, timeout); }));
  }
  // gRPC ends every hop by its deadline, so each get() returns within about `timeout`.
  auto local_result = local();
  std::vector<Part> parts;
  arrow::Status first_missing_dataset;
  size_t missing_datasets = 0;
  if (local_result.ok()) {
    parts.push_back(std::move(*local_result));
  } else if (local_result.status().IsKeyError()) {
    first_missing_dataset = local_result.status();
    ++missing_datasets;
    missing->push_back({self_id, "no dataset: " + local_result.status().message()});
  } else {
    for (auto& answer : answers) answer.wait();
    return local_result.status();  // a bad request: every member would refuse it too
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    auto answer = answers[i].get();
    if (!answer.ok()) {
      if (answer.status().IsKeyError()) {
        ++missing_datasets;
        if (first_missing_dataset.ok()) first_missing_dataset = answer.status();
      }
      missing->push_back(
          {peers[i].node_id, MissingReason(answer.status(), timeout, peers[i], peers_.tls())});
      continue;
    }
    if (schema_of && !parts.empty() &&
        !schema_of(*answer)->Equals(*schema_of(parts.front()), /*check_metadata=*/false)) {
      missing->push_back({peers[i].node_id, "error: its result has other columns: " +
                                                schema_of(*answer)->ToString()});
      continue;
    }
    parts.push_back(std::move(*answer));
  }
  metrics_->FannedOut(static_cast<int64_t>(missing->size()));
  if (parts.empty()) {
    // No member holds the dataset: the error of a single node.
    if (missing_datasets == missing->size()) return first_missing_dataset;
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "no member answered: " + MissingNodesJson(*missing).dump());
  }
  if (options.require_all && !missing->empty()) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "require_all: member '" + missing->front().node +
                                   "' is missing from the search (" + missing->front().reason +
                                   "); all missing: " + MissingNodesJson(*missing).dump());
  }
  return parts;
}

arrow::Result<ClusterSearchResult> ClusterNode::Search(
    const Json& keys, int64_t k, const FanOutOptions& options,
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>& local,
    const std::optional<HybridFusion>& hybrid) {
  if (hybrid) return HybridSearch(keys, k, *hybrid, options);
  ClusterSearchResult result;
  ARROW_ASSIGN_OR_RAISE(auto parts, SearchParts(keys, options, local, &result.missing));
  ARROW_ASSIGN_OR_RAISE(result.batch, MergeTopK(parts, k));
  return result;
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ClusterNode::SearchParts(
    const Json& keys, const FanOutOptions& options,
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>& local,
    std::vector<MissingNode>* missing) {
  using Batch = std::shared_ptr<arrow::RecordBatch>;
  if (auto map = ShardMapOf(keys)) return ShardSearchParts(*map, keys, options, missing);
  const std::string ticket = Json{{"search", HopKeys(keys)}}.dump();
  return FanOut<Batch>(
      options, local,
      [&](const MemberInfo& peer, std::chrono::milliseconds timeout) {
        return SearchPeer(peer, ticket, timeout);
      },
      [](const Batch& batch) { return batch->schema(); }, missing);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ClusterNode::Scan(
    const Json& keys, std::optional<int64_t> limit, const FanOutOptions& options,
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()>& local) {
  if (auto map = ShardMapOf(keys)) return ShardScan(*map, keys, limit, options);
  const std::string ticket = HopKeys(keys).dump();
  std::vector<MissingNode> missing;
  ARROW_ASSIGN_OR_RAISE(auto parts,
                        FanOut<ScanPart>(
                            options,
                            [&]() -> arrow::Result<ScanPart> {
                              ARROW_ASSIGN_OR_RAISE(auto reader, local());
                              return ScanPart{std::move(reader), nullptr};
                            },
                            [&](const MemberInfo& peer, std::chrono::milliseconds timeout) {
                              return OpenPeerScan(peer, ticket, timeout);
                            },
                            [](const ScanPart& part) { return part.reader->schema(); }, &missing));
  auto schema = SchemaWithMissingNodes(parts.front().reader->schema(), missing);
  return std::make_shared<ChainedScanReader>(std::move(schema), std::move(parts), limit);
}

arrow::Result<ClusterActionResult> ClusterNode::Action(
    const std::string& type, const Json& body, const FanOutOptions& options,
    const std::function<arrow::Result<Json>()>& local) {
  // A delete reads the map afresh: it must reach a replica added moments ago, which may be
  // copying the shard (shard_deletes.h).
  if (auto map = ShardMapOf(body, /*fresh=*/type == "delete")) {
    return ShardAction(*map, type, body, options);
  }
  const std::string hop = HopKeys(body).dump();
  const std::string self_id = SelfId();
  ClusterActionResult result;
  ARROW_ASSIGN_OR_RAISE(
      result.answers, FanOut<NodeAnswer>(
                          options,
                          [&]() -> arrow::Result<NodeAnswer> {
                            ARROW_ASSIGN_OR_RAISE(auto answer, local());
                            return NodeAnswer{self_id, std::move(answer)};
                          },
                          [&](const MemberInfo& peer,
                              std::chrono::milliseconds timeout) -> arrow::Result<NodeAnswer> {
                            ARROW_ASSIGN_OR_RAISE(auto answer, ActionPeer(peer, type, hop, timeout,
                                                                          options.forwarded_token));
                            return NodeAnswer{peer.node_id, std::move(answer)};
                          },
                          nullptr, &result.missing));
  return result;
}

// Instantiated here for cluster_catalog.cc, where it is used.
template arrow::Result<std::vector<MemberCatalog>> ClusterNode::FanOut<MemberCatalog>(
    const FanOutOptions&, const std::function<arrow::Result<MemberCatalog>()>&,
    const std::function<arrow::Result<MemberCatalog>(const MemberInfo&,
                                                     std::chrono::milliseconds)>&,
    const std::function<std::shared_ptr<arrow::Schema>(const MemberCatalog&)>&,
    std::vector<MissingNode>*);

}  // namespace arbalest
