#include "cluster/shard_catchup.h"

#include <arrow/flight/types.h>
#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace arbalest {
namespace {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Label(const std::string& dataset, int32_t shard) {
  return "shard " + std::to_string(shard) + " of '" + dataset + "'";
}

bool Contains(const std::vector<std::string>& nodes, const std::string& node) {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

std::optional<MemberInfo> FindMember(const std::vector<MemberInfo>& members,
                                     const std::string& node_id) {
  for (const auto& member : members) {
    if (member.node_id == node_id) return member;
  }
  return std::nullopt;
}

struct FenceRequest {
  std::string dataset;
  int32_t shard = 0;
  int64_t epoch = 0;
  std::string node;
  std::string op;
  uint64_t token = 0;
  int64_t hold_ms = 0;
};

arrow::Result<FenceRequest> ParseFenceRequest(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(Json json, ParseJsonObject(body, kShardFenceAction));
  FenceRequest request;
  if (!json.contains("dataset") || !json["dataset"].is_string() || !json.contains("shard") ||
      !json["shard"].is_number_integer() || !json.contains("epoch") ||
      !json["epoch"].is_number_integer() || !json.contains("op") || !json["op"].is_string()) {
    return arrow::Status::Invalid(kShardFenceAction,
                                  " needs dataset, shard, epoch and op: ", JsonForMessage(json));
  }
  request.dataset = json["dataset"].get<std::string>();
  request.shard = json["shard"].get<int32_t>();
  request.epoch = json["epoch"].get<int64_t>();
  request.op = json["op"].get<std::string>();
  request.node = json.value("node", std::string());
  request.hold_ms = json.value("hold_ms", int64_t{30000});
  const std::string token = json.value("token", std::string("0"));
  request.token = std::strtoull(token.c_str(), nullptr, 10);
  if (request.op != "close" && request.op != "check" && request.op != "release") {
    return arrow::Status::Invalid(kShardFenceAction, ": op must be close, check or release, got '",
                                  request.op, "'");
  }
  if (request.hold_ms < 1 || request.hold_ms > 600000) {
    return arrow::Status::Invalid(kShardFenceAction, ": hold_ms must be in [1, 600000]");
  }
  return request;
}

// Asks for a snapshot of shard copy `name`, whose bulk pass copied rows or adopted segments:
// adopted segments become segment files named by a manifest now rather than at the next
// snapshot round, so that a restart maps their graphs instead of indexing their rows again,
// and the rows copied are written beside them (a restart reads them from the snapshot rather
// than replaying them from the log). Null when none was asked for (logged).
LocalPuts::SnapshotWait AskSnapshot(const LocalPuts& local, const std::string& name) {
  if (!local.snapshot) return nullptr;
  auto asked = local.snapshot(name);
  if (asked.ok()) return std::move(*asked);
  spdlog::warn("{}: no snapshot of the copy asked for (the next round writes it): {}", name,
               asked.status().message());
  return nullptr;
}

// After the bulk pass: both reconciles compare by content (copy->content) when the primary
// offers content digests. Copies can agree on every id and its count while holding different
// rows of it: with unique ids, a put the primary applied and this node did not (never acked);
// with ids repeated on purpose, also the bulk pass's own matching, which skips one scanned row
// of an id per row of it held here, whichever row that is (held {b}, the primary's {a, b}: the
// copy stored b again and lacked a, an acked row).
arrow::Status CompareByContentWhereOffered(ShardCopyEnv* copy) {
  std::string why_not;
  ARROW_ASSIGN_OR_RAISE(copy->content, SourceOffersContentDigests(*copy, &why_not));
  if (!copy->content) {
    spdlog::warn(
        "{}: the copy is compared by ids only ({}): rows of an id that differ between the "
        "copies while their counts agree go unseen",
        copy->name, why_not);
  }
  return arrow::Status::OK();
}

}  // namespace

Json AwaitSnapshot(const LocalPuts::SnapshotWait& snapshotted, const std::string& name,
                   std::chrono::milliseconds wait, const std::atomic<bool>& stopping) {
  const auto deadline = Clock::now() + wait;
  std::string error;
  while (error.empty()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto report = snapshotted(std::clamp(left, std::chrono::milliseconds(0), kSnapshotWaitSlice));
    if (report.ok() && *report) return std::move(**report);
    if (!report.ok()) {
      error = report.status().message();
    } else if (stopping.load()) {
      error =
          "not waited for: this node is stopping (the snapshot goes on, or the next round "
          "writes the copy)";
    } else if (left <= kSnapshotWaitSlice) {
      error = "the snapshot was not written within " + std::to_string(wait.count()) +
              " ms; it goes on in the background";
    }
  }
  spdlog::warn("{}: the snapshot of the copy: {}", name, error);
  return Json{{"error", error}};
}

namespace {

Json FenceBody(const std::string& dataset, int32_t shard, int64_t epoch, const std::string& node,
               const std::string& op, uint64_t token, std::chrono::milliseconds hold) {
  return {{"dataset", dataset},     {"shard", shard}, {"epoch", epoch},
          {"node", node},           {"op", op},       {"token", std::to_string(token)},
          {"hold_ms", hold.count()}};
}

}  // namespace

arrow::Result<Json> ShardFenceAction(const CatchupEnv& env, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(FenceRequest request, ParseFenceRequest(body));
  ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(request.dataset, request.shard));
  auto fence = env.fences->Of(name);
  if (request.op == "check") return Json{{"remaining_ms", fence->Remaining(request.token).count()}};
  if (request.op == "release") return Json{{"held", fence->Release(request.token)}};
  ARROW_ASSIGN_OR_RAISE(auto map, env.maps->Get(request.dataset, /*fresh=*/true));
  const auto self = env.self();
  if (!map || !self || request.shard < 0 || request.shard >= map->shards) {
    return arrow::Status::Invalid(kShardFenceAction, ": no ", Label(request.dataset, request.shard),
                                  " on this node");
  }
  const ShardPlacement& placement = map->placement[request.shard];
  if (placement.epoch != request.epoch || placement.primary != self->node_id ||
      !placement.HasReplica(request.node)) {
    return arrow::Status::Invalid("stale epoch ", request.epoch, " for ",
                                  Label(request.dataset, request.shard), ": at epoch ",
                                  placement.epoch, " its primary is '", placement.primary,
                                  "' and its replicas ", Json(placement.replicas).dump());
  }
  // Half the caller's timeout: a close that succeeds after the caller gave up would pause the
  // shard's writes for nothing.
  ARROW_ASSIGN_OR_RAISE(uint64_t token, fence->Close(std::chrono::milliseconds(request.hold_ms),
                                                     env.timeout / 2, request.node));
  spdlog::info("{}: writes paused for the catch-up of '{}' (at most {} ms)",
               Label(request.dataset, request.shard), request.node, request.hold_ms);
  return Json{{"token", std::to_string(token)}, {"hold_ms", request.hold_ms}};
}

arrow::Result<Json> ShardDigestAction(const CatchupEnv& env, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(ShardDigestRequest request, ParseShardDigestRequest(body));
  ARROW_ASSIGN_OR_RAISE(auto map, env.maps->Get(request.dataset));
  if (!map) {
    return arrow::Status::Invalid(kShardDigestAction, ": '", request.dataset,
                                  "' is not a sharded dataset of this cluster");
  }
  if (request.shard >= map->shards) {
    return arrow::Status::Invalid(kShardDigestAction, ": '", request.dataset, "' has no shard ",
                                  request.shard, " (its shards: 0 to ", map->shards - 1, ")");
  }
  const auto self = env.self();
  if (!self) return arrow::Status::IOError(kShardDigestAction, ": this node has not joined yet");
  ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(request.dataset, request.shard));
  const auto no_copy = [&] {
    return arrow::Status::KeyError(kShardDigestAction, ": this node holds no copy of ",
                                   Label(request.dataset, request.shard));
  };
  // From the hashes kept per segment, when this node's store offers its views.
  if (env.digests && env.snapshot) {
    auto snapshot = env.snapshot(name);
    if (!snapshot.ok() && snapshot.status().IsKeyError()) return no_copy();
    if (snapshot.ok()) return env.digests->Answer(request, name, *snapshot);
    if (!snapshot.status().IsNotImplemented()) return snapshot.status();
  }
  // Version 2 hashes every column of each row; version 1 the ids only.
  Json ticket{{"dataset", name}, {"local_only", true}};
  if (request.version == kDigestVersionIds) ticket["columns"] = {"id"};
  auto ids = env.scan(*self, ticket.dump(), env.hold);
  if (!ids.ok() && ids.status().IsKeyError()) return no_copy();
  ARROW_RETURN_NOT_OK(ids.status());
  return AnswerShardDigest(request, *ids->reader);
}

ShardCatchup::ShardCatchup(CatchupEnv env)
    : env_(std::move(env)), thread_("arb-catchup", env_.interval) {
  thread_.Start([this] {
    if (auto pass = PassOnce(); !pass.ok()) {
      spdlog::warn("shard catch-up pass failed: {}", pass.status().message());
    }
  });
}

ShardCatchup::~ShardCatchup() {
  stopping_ = true;  // a catch-up under way ends at its next check (a snapshot wait, a batch)
  thread_.Stop();
}

bool ShardCatchup::Kept(const std::string& name) const {
  MutexLock lock(&mutex_);
  return kept_.contains(name);
}

void ShardCatchup::Forget(const std::string& name) {
  MutexLock lock(&mutex_);
  kept_.erase(name);
}

bool ShardCatchup::KeptForReturn(const std::string& name, const ShardMap& map,
                                 const std::set<std::string>& live) {
  {
    MutexLock lock(&mutex_);
    auto it = kept_.find(name);
    if (it == kept_.end() || Clock::now() - it->second >= env_.return_grace) return false;
  }
  // Still moving: a shard syncing, leaving or short of replicas, or loads that a move would
  // even out. Else false, but the copy stays marked kept until dropped: should a map name this
  // node its replica before, the catch-up reconciles it by content, never by ids only.
  std::map<std::string, int32_t> loads;
  for (const auto& node : live) loads[node] = 0;
  for (const ShardPlacement& placement : map.placement) {
    if (!placement.syncing.empty() || !placement.leaving.empty() ||
        placement.replicas.size() < static_cast<size_t>(map.replication)) {
      return true;
    }
    for (const auto& node : placement.replicas) {
      if (live.contains(node)) ++loads[node];
    }
  }
  const auto [idlest, busiest] = std::minmax_element(
      loads.begin(), loads.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return !loads.empty() && busiest->second - idlest->second >= 2;
}

bool ShardCatchup::StaleLongEnough(const std::string& name) {
  const auto now = Clock::now();
  MutexLock lock(&mutex_);
  auto [it, inserted] = stale_since_.emplace(name, now);
  return !inserted && now - it->second >= env_.drop_grace;
}

void ShardCatchup::Record(const std::string& dataset, int32_t shard, Json state) {
  state["dataset"] = dataset;
  state["shard"] = shard;
  state["at_ms"] = NowMs();
  if (env_.on_outcome && (state["state"] == "caught_up" || state["state"] == "failed")) {
    env_.on_outcome(state);
  }
  MutexLock lock(&mutex_);
  shards_[{dataset, shard}] = std::move(state);
}

Json ShardCatchup::Status() const {
  MutexLock lock(&mutex_);
  Json shards = Json::array();
  for (const auto& [key, state] : shards_) shards.push_back(state);
  return {{"caught_up", caught_up_},
          {"dropped", dropped_},
          {"kept", kept_count_},
          {"shards", std::move(shards)}};
}

arrow::Result<int> ShardCatchup::PassOnce() {
  if (env_.digests) env_.digests->DropUnused(DigestCache::kUnusedFor);
  const auto self = env_.self();
  const auto local = env_.local();
  if (!self || !local || env_.degraded()) return 0;
  std::set<std::string> live;
  for (const auto& member : env_.members()) live.insert(member.node_id);
  if (int released = env_.fences->ReleaseAbandoned(
          [&](const std::string& node) { return !live.contains(node); });
      released > 0) {
    spdlog::warn("{} shard fence(s) opened: the node catching the shard up left the cluster",
                 released);
  }
  ARROW_ASSIGN_OR_RAISE(std::vector<ShardMap> maps, env_.maps->All());
  int done = 0;
  for (const ShardMap& map : maps) {
    for (int32_t shard = 0; shard < map.shards; ++shard) {
      const ShardPlacement& placement = map.placement[shard];
      ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(map.dataset, shard));
      if (!placement.HasReplica(self->node_id)) {
        if (local->holds(name) && !KeptForReturn(name, map, live) && StaleLongEnough(name)) {
          done += DropStaleLogged(map.dataset, shard, name, self->node_id, *local);
        }
        continue;
      }
      {
        MutexLock lock(&mutex_);
        stale_since_.erase(name);  // this node's replica again (or still)
      }
      if (!Contains(placement.syncing, self->node_id)) continue;
      Record(map.dataset, shard,
             {{"state", "copying"}, {"source", placement.primary}, {"epoch", placement.epoch}});
      const auto started = Clock::now();
      auto copied = CatchUp(map, shard, *self);
      const int64_t took_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      if (!copied.ok()) {
        spdlog::warn("{}: catch-up from '{}' failed (retried at the next pass): {}",
                     Label(map.dataset, shard), placement.primary, copied.status().message());
        Record(map.dataset, shard,
               {{"state", "failed"},
                {"source", placement.primary},
                {"epoch", placement.epoch},
                {"reason", copied.status().message()}});
        continue;
      }
      spdlog::info(
          "{}: caught up from '{}' in {} ms: {} rows of {} sealed segments adopted with their "
          "graphs, {} rows read from row {} ({} bytes{}) and {} of them copied in bulk ({:.3f} s, "
          "writes going on), "
          "{} copied and {} removed by a reconcile before the fences ({:.3f} s), then {} rows "
          "copied and {} removed while its writes paused ({:.3f} s; {} of {} digest buckets "
          "differed, {} ids read); now a full replica",
          Label(map.dataset, shard), placement.primary, took_ms, copied->adopted.rows,
          copied->adopted.segments(), copied->scan.rows, copied->scan.from_row, copied->scan.bytes,
          copied->scan.fallback.empty() ? std::string()
                                        : "; the whole shard: " + copied->scan.fallback,
          copied->bulk_rows, copied->bulk_seconds, copied->before.copied, copied->before.removed,
          copied->before.seconds, copied->fenced.copied, copied->fenced.removed,
          copied->fenced_seconds, copied->fenced.buckets_differ, copied->fenced.buckets,
          copied->fenced.ids_read);
      Json state = copied->ToJson();
      state.update({{"state", "caught_up"},
                    {"source", placement.primary},
                    {"epoch", placement.epoch},
                    {"ms", took_ms}});
      Record(map.dataset, shard, std::move(state));
      {
        MutexLock lock(&mutex_);
        ++caught_up_;
      }
      ++done;
    }
  }
  return done;
}

Json ShardCatchup::Copied::ToJson() const {
  return {{"kept_copy", kept ? kept->ToJson() : Json(nullptr)},
          {"compared_by", by_content ? "content" : "ids"},
          {"rows_purged", rows_purged},
          {"rows_copied", bulk_rows + before.copied + fenced.copied},
          {"rows_bulk", bulk_rows},
          {"rows_fenced", fenced.copied},
          {"rows_removed", before.removed + fenced.removed},
          {"ids_compared", fenced.ids},
          {"ids_read_fenced", fenced.ids_read},
          {"ids_replaced", fenced.differ},
          {"bulk_seconds", bulk_seconds},
          {"fenced_seconds", fenced_seconds},
          {"reconcile_seconds", fenced.seconds},
          {"rows_adopted", adopted.rows},
          {"segments_adopted", adopted.segments()},
          {"adopted", adopted.ToJson()},
          {"rows_scanned", scan.rows},
          {"bytes_scanned", scan.bytes},
          {"scan", scan.ToJson()},
          {"reconcile_before_fences", before.ToJson()},
          {"reconcile_fenced", fenced.ToJson()},
          {"snapshot", snapshot}};
}

arrow::Result<std::vector<SegmentRef>> ShardCatchup::ShardSegmentsOf(
    const MemberInfo& source, const std::string& name, std::chrono::milliseconds timeout) const {
  ARROW_ASSIGN_OR_RAISE(Json answer, env_.action(source, kShardSegmentsAction,
                                                 Json{{"dataset", name}}.dump(), timeout));
  return SegmentsFromAnswer(answer);
}

arrow::Result<ReceivedSegment> ShardCatchup::ShardSegmentOf(
    const MemberInfo& source, const std::string& name, const SegmentRef& segment,
    std::chrono::milliseconds timeout) const {
  ARROW_ASSIGN_OR_RAISE(ScanPart part,
                        env_.scan(source, ShardSegmentTicket(name, segment), timeout));
  return ReceiveSegment(*part.reader);
}

arrow::Result<ShardCatchup::Copied> ShardCatchup::CatchUp(const ShardMap& map, int32_t shard,
                                                          const MemberInfo& self) {
  const ShardPlacement& placement = map.placement[shard];
  if (placement.primary == self.node_id || Contains(placement.syncing, placement.primary)) {
    return arrow::Status::IOError("no live replica holds all its rows to copy them from (primary '",
                                  placement.primary, "' is syncing too)");
  }
  const auto source = FindMember(env_.members(), placement.primary);
  if (!source) {
    return arrow::Status::IOError("its primary '", placement.primary, "' is not a live member");
  }
  const auto local = env_.local();
  if (!local) return arrow::Status::IOError("this node's store is not attached yet");
  ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(map.dataset, shard));
  auto fence = env_.fences->Of(name);
  ShardCopyEnv copy;
  copy.name = name;
  copy.source = [&](const std::string& ticket, std::chrono::milliseconds timeout) {
    return env_.scan(*source, ticket, timeout);
  };
  copy.own = [&](const std::string& ticket, std::chrono::milliseconds timeout) {
    return env_.scan(self, ticket, timeout);
  };
  copy.local = *local;
  copy.deletes = env_.deletes;
  copy.fence = fence.get();
  copy.stopping = &stopping_;
  copy.bulk_batch_delay = env_.bulk_batch_delay;
  copy.scan_delay = env_.scan_delay;
  copy.start_delay = env_.start_delay;
  copy.source_digest = [&, buckets = copy.digest_buckets](const std::vector<int32_t>* ids_of,
                                                          std::chrono::milliseconds timeout) {
    return env_.action(*source, kShardDigestAction,
                       ShardDigestBody(map.dataset, shard, buckets, ids_of).dump(), timeout);
  };
  copy.source_content_digest = [&, buckets = copy.digest_buckets](
                                   const std::vector<int32_t>* ids_of,
                                   std::chrono::milliseconds timeout) {
    return env_.action(
        *source, kShardDigestAction,
        ShardDigestBody(map.dataset, shard, buckets, ids_of, kDigestVersionContent).dump(),
        timeout);
  };
  // This node's own, in-process, from the hashes it keeps per segment.
  copy.own_digest = [&, buckets = copy.digest_buckets](const std::vector<int32_t>* ids_of,
                                                       int32_t version, std::chrono::milliseconds) {
    return ShardDigestAction(env_,
                             ShardDigestBody(map.dataset, shard, buckets, ids_of, version).dump());
  };
  copy.source_segments = [&](std::chrono::milliseconds timeout) {
    return ShardSegmentsOf(*source, name, timeout);
  };
  copy.source_segment = [&](const SegmentRef& segment, std::chrono::milliseconds timeout) {
    return ShardSegmentOf(*source, name, segment, timeout);
  };

  // A copy kept from before this node was away: reconciled by content, or purged.
  Copied copied;
  copy.timeout = env_.bulk_timeout;
  if (Kept(name)) ARROW_RETURN_NOT_OK(PlanKept(&copy, &copied));

  // Pass 1, the bulk of the rows, while the shard's writes go on (not for a kept copy: both
  // reconcile passes copy what differs).
  auto started = Clock::now();
  if (!copy.content) {
    ARROW_ASSIGN_OR_RAISE(copied.bulk_rows, CopyBulk(copy, &copied.adopted, &copied.scan));
  }
  copied.bulk_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (!copy.content) ARROW_RETURN_NOT_OK(CompareByContentWhereOffered(&copy));
  copied.by_content = copy.content;
  // The copy made durable in a snapshot at once (adopted segments as segment files, rows
  // copied beside them), while the reconcile before the fences runs; waited for before the
  // fences close (not while the writes pause), so that the map names this node a full replica
  // only once a restart would map the adopted graphs and read the copied rows from the
  // snapshot, not wait for the next snapshot round.
  const LocalPuts::SnapshotWait snapshotted =
      copied.adopted.segments() > 0 || copied.bulk_rows > 0 ? AskSnapshot(*local, name) : nullptr;
  // The differences the bulk pass left (rows it stored twice, writes that reached one node
  // only), repaired while the writes go on, so that the fenced pass mostly finds none. A
  // failure here leaves them to the fenced pass.
  if (auto before = Reconcile(copy, /*fenced=*/false); before.ok()) {
    copied.before = *before;
  } else {
    spdlog::warn("{}: the reconcile before the fences failed (the fenced one repairs all): {}",
                 Label(map.dataset, shard), before.status().message());
  }
  if (snapshotted) {
    copied.snapshot = AwaitSnapshot(snapshotted, name, env_.snapshot_wait, stopping_);
  }
  if (stopping_.load()) return arrow::Status::Cancelled("this node is stopping");
  Json state = copied.ToJson();
  state.update(
      {{"state", "reconciling"}, {"source", placement.primary}, {"epoch", placement.epoch}});
  Record(map.dataset, shard, std::move(state));

  // Pass 2, the differences, while the shard's writes pause.
  copy.timeout = env_.hold;
  auto fence_call = [&](const std::string& op, uint64_t token) {
    return env_.action(
        *source, kShardFenceAction,
        FenceBody(map.dataset, shard, placement.epoch, self.node_id, op, token, env_.hold).dump(),
        env_.timeout);
  };
  started = Clock::now();
  ARROW_ASSIGN_OR_RAISE(Json closed, fence_call("close", 0));
  const uint64_t token = std::strtoull(closed.value("token", "0").c_str(), nullptr, 10);
  auto reconciled = ReconcileFenced(map, shard, self, *source, token, std::move(copy));
  auto released = fence_call("release", token);  // also after a failed copy
  copied.fenced_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (!released.ok()) {
    spdlog::warn("{}: the primary's fence not released ({}); it opens by itself within {} ms",
                 Label(map.dataset, shard), released.status().message(), env_.hold.count());
  }
  ARROW_ASSIGN_OR_RAISE(copied.fenced, std::move(reconciled));
  Forget(name);
  return copied;
}

arrow::Status ShardCatchup::PlanKept(ShardCopyEnv* copy, Copied* copied) {
  ARROW_ASSIGN_OR_RAISE(KeptPlan plan, PlanKeptCopy(*copy));
  copied->kept = plan;
  if (plan.keep) {
    copy->content = true;
    spdlog::info(
        "{}: the copy kept from before this node was away is reconciled by content "
        "({} of {} buckets differ, {} rows here)",
        copy->name, plan.buckets_differ, plan.buckets, plan.rows);
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(copied->rows_purged, PurgeCopy(*copy));
  Forget(copy->name);
  spdlog::info("{}: the copy kept from before this node was away is purged ({} rows): {}",
               copy->name, copied->rows_purged, plan.reason);
  return arrow::Status::OK();
}

arrow::Result<Reconciled> ShardCatchup::ReconcileFenced(const ShardMap& map, int32_t shard,
                                                        const MemberInfo& self,
                                                        const MemberInfo& source,
                                                        uint64_t source_token, ShardCopyEnv copy) {
  auto fence = env_.fences->Of(copy.name);
  ARROW_ASSIGN_OR_RAISE(uint64_t local_token, fence->Close(env_.hold, env_.timeout));
  const FenceClosed closed(*fence, local_token);
  ARROW_ASSIGN_OR_RAISE(Reconciled reconciled, Reconcile(copy));

  // The comparison is exact only if both fences held throughout (no write of the shard ran
  // meanwhile): checked now that the copy is stored. Writes after this point reach this node
  // as a replica's writes, so the flip may come later.
  ARROW_ASSIGN_OR_RAISE(Json check,
                        env_.action(source, kShardFenceAction,
                                    FenceBody(map.dataset, shard, map.placement[shard].epoch,
                                              self.node_id, "check", source_token, env_.hold)
                                        .dump(),
                                    env_.timeout));
  if (check.value("remaining_ms", int64_t{0}) <= 0 || fence->Remaining(local_token).count() <= 0) {
    return arrow::Status::IOError("the reconcile pass took longer than the writes may pause (",
                                  env_.hold.count(), " ms): not trusted, not flipped");
  }
  ARROW_RETURN_NOT_OK(
      Flip(map.dataset, shard, map.placement[shard].epoch, source.node_id, self.node_id));
  return reconciled;
}

arrow::Status ShardCatchup::Flip(const std::string& dataset, int32_t shard, int64_t epoch,
                                 const std::string& source, const std::string& self_id) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    ARROW_ASSIGN_OR_RAISE(auto map, env_.maps->Get(dataset, /*fresh=*/true));
    if (!map || shard >= map->shards) {
      return arrow::Status::IOError("the shard map of '", dataset, "' is gone");
    }
    ShardPlacement& placement = map->placement[shard];
    if (placement.epoch != epoch || placement.primary != source ||
        !Contains(placement.syncing, self_id)) {
      return arrow::Status::IOError("the shard map changed during the copy (now epoch ",
                                    placement.epoch, ", primary '", placement.primary,
                                    "'): not flipped");
    }
    std::erase(placement.syncing, self_id);
    ARROW_ASSIGN_OR_RAISE(ShardMap stored, env_.maps->Update(*map));
    const ShardPlacement& now = stored.placement[shard];
    if (now.epoch == epoch && !Contains(now.syncing, self_id) && now.HasReplica(self_id)) {
      return arrow::Status::OK();
    }
  }
  return arrow::Status::IOError("the shard map kept changing: not flipped");
}

int ShardCatchup::DropStaleLogged(const std::string& dataset, int32_t shard,
                                  const std::string& name, const std::string& self_id,
                                  const LocalPuts& local) {
  auto dropped = DropStale(dataset, shard, name, self_id, local);
  if (dropped.ok()) return *dropped ? 1 : 0;
  spdlog::warn("{}: the stale copy of this node not dropped: {}", Label(dataset, shard),
               dropped.status().message());
  return 0;
}

namespace {

// Past rows / kMostUnrestoredShareToKeep rows without the graph a snapshot restored, a
// returning node's copy is dropped before it joins rather than kept.
constexpr int64_t kMostUnrestoredShareToKeep = 2;

// Why a returning node's copy `name` is dropped rather than kept: its snapshot restored the
// graph of at most half its rows (it had none, or the log since was long), and indexing them
// again takes longer than copying the shard afresh, which adopts the primary's graphs. Judged by
// the snapshot, not by how far the index workers have come since, so that the choice does not
// depend on how fast they are. Nullopt: kept.
std::optional<std::string> UnrestoredReason(const LocalPuts& local, const std::string& name) {
  if (!local.restored_index) return std::nullopt;
  auto restored = local.restored_index(name);
  if (!restored.ok()) return std::nullopt;  // the copy is kept; the catch-up finds out the rest
  const int64_t unrestored = restored->rows - restored->restored_rows;
  if (unrestored <= restored->rows / kMostUnrestoredShareToKeep) return std::nullopt;
  return "its snapshot restored the graph of " + std::to_string(restored->restored_rows) +
         " of its " + std::to_string(restored->rows) +
         " rows: the shard is copied afresh, adopting the primary's graphs, rather than indexed "
         "again";
}

}  // namespace

arrow::Result<int> ShardCatchup::KeepBeforeJoining(const std::string& self_id) {
  const auto local = env_.local();
  if (!local) return 0;
  ARROW_ASSIGN_OR_RAISE(std::vector<ShardMap> maps, env_.maps->All());
  int kept = 0;
  const auto now = Clock::now();
  for (const ShardMap& map : maps) {
    for (int32_t shard = 0; shard < map.shards; ++shard) {
      ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(map.dataset, shard));
      if (map.placement[shard].HasReplica(self_id) || !local->holds(name)) continue;
      if (auto unrestored = UnrestoredReason(*local, name)) {
        // Nothing writes to the copy before this node joins: a plain drop.
        ARROW_RETURN_NOT_OK(local->drop(name));
        spdlog::info("{}: this node's copy dropped before joining: {}", Label(map.dataset, shard),
                     *unrestored);
        Record(map.dataset, shard, {{"state", "dropped"}, {"reason", *unrestored}});
        MutexLock lock(&mutex_);
        ++dropped_;
        continue;
      }
      Record(map.dataset, shard, {{"state", "kept"}});
      MutexLock lock(&mutex_);
      kept_[name] = now;
      ++kept_count_;
      ++kept;
    }
  }
  return kept;
}

arrow::Result<bool> ShardCatchup::DropStale(const std::string& dataset, int32_t shard,
                                            const std::string& name, const std::string& self_id,
                                            const LocalPuts& local) {
  auto fence = env_.fences->Of(name);
  ARROW_ASSIGN_OR_RAISE(uint64_t token, fence->Close(env_.hold, env_.timeout));
  const FenceClosed closed(*fence, token);
  ARROW_ASSIGN_OR_RAISE(auto map, env_.maps->Get(dataset, /*fresh=*/true));
  if (!map || shard >= map->shards || map->placement[shard].HasReplica(self_id)) return false;
  ARROW_RETURN_NOT_OK(local.drop(name));
  {
    MutexLock lock(&mutex_);
    stale_since_.erase(name);
    kept_.erase(name);
  }
  spdlog::info("{}: this node's copy dropped (the shard map does not name it a replica: {})",
               Label(dataset, shard), Json(map->placement[shard].replicas).dump());
  Record(dataset, shard, {{"state", "dropped"}, {"replicas", map->placement[shard].replicas}});
  MutexLock lock(&mutex_);
  ++dropped_;
  return true;
}

}  // namespace arbalest
