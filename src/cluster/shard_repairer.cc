#include "cluster/shard_repairer.h"

#include <spdlog/spdlog.h>

#include <set>

namespace arbalest {

ShardRepairer::ShardRepairer(ShardMaps& maps, std::function<std::vector<MemberInfo>()> live,
                             std::function<bool()> degraded, std::chrono::milliseconds interval)
    : maps_(maps),
      live_(std::move(live)),
      degraded_(std::move(degraded)),
      thread_("arb-shard-repair", interval) {
  thread_.Start([this] {
    if (auto repaired = RepairOnce(); !repaired.ok()) {
      spdlog::warn("shard maps not repaired: {}", repaired.status().message());
    }
  });
}

ShardRepairer::~ShardRepairer() { thread_.Stop(); }

arrow::Result<int> ShardRepairer::RepairOnce() {
  const std::vector<MemberInfo> members = live_();
  const std::set<std::string> live = MemberIds(members);
  const std::set<std::string> draining = MemberIds(members, /*draining_only=*/true);
  if (live.empty() || degraded_()) return 0;
  ARROW_ASSIGN_OR_RAISE(std::vector<ShardMap> maps, maps_.All());
  int changed = 0;
  const auto now = std::chrono::steady_clock::now();
  for (ShardMap& map : maps) {
    auto leaving_long_enough = [&](int32_t shard) {
      const std::string key = map.dataset + "/" + std::to_string(shard) + "/" +
                              std::to_string(map.placement[shard].epoch);
      MutexLock lock(&mutex_);
      auto [it, inserted] = leaving_seen_.emplace(key, now);
      return now - it->second >= 2 * ShardMaps::kMaxAge;
    };
    // Failover first; moves towards idle members only when no member is missing.
    if (!RepairShardMap(&map, live, draining) &&
        !BalanceShardMap(&map, live, leaving_long_enough, draining)) {
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(ShardMap stored, maps_.Update(map));
    spdlog::info("shard map of '{}' repaired for the live members: {}", stored.dataset,
                 stored.ToJson().dump());
    ++changed;
  }
  return changed;
}

}  // namespace arbalest
