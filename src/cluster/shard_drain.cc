#include "cluster/shard_drain.h"

#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <set>
#include <thread>

#include "cluster/shard_map.h"

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;

std::string ShardKey(const ShardMap& map, int32_t shard) {
  return map.dataset + "/" + std::to_string(shard);
}

std::string Joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "none" : text;
}

// How long a drain holds a primary's fence at most: its own transaction, an etcd round trip.
constexpr std::chrono::milliseconds kHandOverHold{10000};

class Drain {
 public:
  Drain(const DrainEnv& env, Clock::time_point deadline, const std::atomic<bool>& abort)
      : env_(env), deadline_(deadline), abort_(abort) {}

  DrainReport Run() {
    const auto started = Clock::now();
    while (true) {
      left_.clear();
      pending_ = false;
      if (Pass()) {
        report_.finished = true;
        break;
      }
      // Only shards that no member can take are left: waiting changes nothing.
      if (!pending_ || abort_ || Clock::now() + env_.poll >= deadline_) break;
      std::this_thread::sleep_for(env_.poll);
    }
    for (auto& [shard, why] : left_) report_.left.push_back(shard + ": " + why);
    report_.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return std::move(report_);
  }

 private:
  // One pass over every map; whether no map names this node any more.
  bool Pass() {
    auto maps = env_.maps->All();
    if (!maps.ok()) {
      left_["*"] = "the shard maps cannot be read: " + maps.status().message();
      return false;  // etcd does not answer: nothing can be handed over
    }
    const std::vector<MemberInfo> members = env_.members();
    std::set<std::string> placeable = MemberIds(members);
    for (const auto& node : MemberIds(members, /*draining_only=*/true)) placeable.erase(node);
    bool done = true;
    for (ShardMap& map : *maps) {
      for (int32_t shard = 0; shard < map.shards; ++shard) {
        if (abort_) return false;
        if (!map.placement[shard].HasReplica(env_.self_id)) continue;
        done = false;
        if (auto stored = Step(map, shard, placeable)) map = std::move(*stored);
      }
    }
    return done;
  }

  // One drain step for one shard; the map stored when it changed it.
  std::optional<ShardMap> Step(const ShardMap& map, int32_t shard,
                               const std::set<std::string>& placeable) {
    const std::string key = ShardKey(map, shard);
    ShardMap changed = map;
    switch (DrainShard(&changed, shard, env_.self_id, placeable)) {
      case DrainStep::kNotHeld:
        return std::nullopt;
      case DrainStep::kWaitCopy:
        left_[key] = "waiting for a syncing replica to copy it (" +
                     Joined(map.placement[shard].syncing) + ")";
        pending_ = true;
        return std::nullopt;
      case DrainStep::kNoTarget:
        left_[key] = "the only full copy, and no member that is not draining to copy it to";
        return std::nullopt;
      case DrainStep::kCopy: {
        auto stored = Store(changed, shard, key, /*fence=*/false);
        const std::string target = changed.placement[shard].syncing.back();
        if (stored && stored->placement[shard].HasReplica(target)) {
          report_.copied.push_back(key + " -> " + target);
          spdlog::info("drain: shard {} is copied to {} (this node held its only full copy)", key,
                       target);
          left_[key] = "waiting for a syncing replica to copy it (" + target + ")";
        }
        return stored;
      }
      case DrainStep::kHandOver: {
        auto stored = Store(changed, shard, key, map.placement[shard].primary == env_.self_id);
        if (stored && !stored->placement[shard].HasReplica(env_.self_id)) {
          report_.handed_over.push_back(key + " -> " + stored->placement[shard].primary);
          spdlog::info("drain: shard {} handed over (primary {}, epoch {})", key,
                       stored->placement[shard].primary, stored->placement[shard].epoch);
          left_.erase(key);
        }
        return stored;
      }
    }
    return std::nullopt;
  }

  // Stores `changed` by a transaction (compare on its revision), with the shard's fence
  // closed when `fence` (this node is its primary); the map stored, nullopt when it failed.
  std::optional<ShardMap> Store(const ShardMap& changed, int32_t shard, const std::string& key,
                                bool fence) {
    pending_ = true;  // until a pass finds the shard without this node
    std::optional<FenceClosed> closed;
    if (fence && env_.fences) {
      auto name = ShardDatasetName(changed.dataset, shard);
      if (!name.ok()) {
        left_[key] = name.status().message();
        return std::nullopt;
      }
      std::shared_ptr<ShardFence> shard_fence = env_.fences->Of(*name);
      auto token = shard_fence->Close(kHandOverHold, env_.fence_wait);
      if (!token.ok()) {  // a catch-up holds it, or writes did not end: the next pass
        left_[key] = "its writes did not pause: " + token.status().message();
        return std::nullopt;
      }
      closed.emplace(*shard_fence, *token);
    }
    auto stored = env_.maps->Update(changed);
    if (!stored.ok()) {
      left_[key] = "the shard map was not written: " + stored.status().message();
      return std::nullopt;
    }
    return std::move(*stored);
  }

  const DrainEnv& env_;
  const Clock::time_point deadline_;
  const std::atomic<bool>& abort_;
  DrainReport report_;
  std::map<std::string, std::string> left_;  // shard -> why it still names this node
  bool pending_ = false;  // this pass left a shard that a later one may hand over
};

}  // namespace

Json DrainReport::ToJson() const {
  return {{"finished", finished},
          {"handed_over", handed_over},
          {"copied", copied},
          {"not_handed_over", left},
          {"took_ms", took.count()}};
}

std::string DrainReport::Summary() const {
  return std::string(finished ? "drained" : "drain incomplete") + " in " +
         std::to_string(took.count()) + " ms; handed over: " + Joined(handed_over) +
         "; copied first: " + Joined(copied) + "; not handed over: " + Joined(left);
}

DrainReport DrainShards(const DrainEnv& env, Clock::time_point deadline,
                        const std::atomic<bool>& abort) {
  return Drain(env, deadline, abort).Run();
}

}  // namespace arbalest
