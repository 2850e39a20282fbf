// A sharded dataset's shard map as it lives in etcd under /<cluster>/shards/<dataset>: how many
// shards its ids hash to, the replication factor, and for each shard the nodes that hold it
// (its replicas), which of them takes its writes (the primary) and the epoch of that choice.
// The map is placed by rendezvous hashing over the live members and changes only by etcd
// transactions that compare on the key's revision (shard_maps.h); a change of a shard's
// replicas or primary bumps its epoch, and writes that carry an older epoch are refused.
// Replicas added after a shard was created (to replace a dead one, or to move the shard) hold
// only the rows written since: they are `syncing`, take writes but answer no reads, until
// catch-up (shard_catchup.h) copies the earlier rows and flips them. A replica that a move
// takes away is first `leaving` (writes still, no reads) for longer than any node caches a
// map, so that a search with an older map still reads a complete copy; then it goes.
// Also here: which shard an id belongs to (xxhash of the id) and the local dataset that holds a
// shard's rows on each of its replicas.
#pragma once

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_util.h"

namespace arbalest {

struct ShardPlacement {
  std::vector<std::string> replicas;  // node ids; the primary first when placed
  std::string primary;
  int64_t epoch = 1;
  std::vector<std::string> syncing;  // replicas without the shard's earlier rows (no reads)
  std::vector<std::string> leaving;  // replicas a move takes away: writes still, no reads
  // Replicas that a repair removed because their member was gone (at most kMaxFormer, oldest
  // first; one leaves the list when it is a replica again): a move prefers to give a member
  // the shards it held, whose copy it may have kept (shard_catchup.h). Only a preference: a
  // node of a build before it ignores and drops the list.
  std::vector<std::string> former;

  // The replicas that searches may ask: every row of the shard, and staying (neither syncing
  // nor leaving).
  std::vector<std::string> Readable() const;
  bool HasReplica(std::string_view node) const;
};

struct ShardMap {
  std::string dataset;
  int32_t shards = 0;
  int32_t replication = 1;
  // The dataset was created without an `id` column: the routing node assigns its rows' uint64
  // ids (id_blocks.h), and puts may not carry ids. Stored as "ids": "assigned" (else "client").
  bool assigned_ids = false;
  std::vector<ShardPlacement> placement;  // one per shard
  int64_t mod_revision = 0;               // of the etcd key it was read from (not stored)

  Json ToJson() const;
};

// Parses a stored map. Invalid names what is wrong.
arrow::Result<ShardMap> ParseShardMap(std::string_view text);

// The etcd key of `dataset`'s shard map, and the prefix of every map of `cluster`.
std::string ShardMapsPrefix(std::string_view cluster);
std::string ShardMapKey(std::string_view cluster, std::string_view dataset);

// The schema metadata key that sets a dataset's shard count at creation (a decimal, 1-1024).
inline constexpr const char* kShardsMetadataKey = "arbalest.shards";
inline constexpr int32_t kMaxShards = 1024;
// The schema metadata key that sets a dataset's replication factor at creation (1-16).
inline constexpr const char* kReplicationMetadataKey = "arbalest.replication";
inline constexpr int32_t kMaxReplication = 16;

inline constexpr const char* kShardDatasetMarker = ".__shard";
inline constexpr size_t kMaxFormer = 8;

// How a node refuses a shard put or delete routed under an epoch that is not the shard map's
// (the sender reads the map again and retries), and how the sender recognises it.
inline constexpr const char* kStaleEpoch = "stale epoch";
bool IsStaleEpoch(const arrow::Status& status);

// The local dataset that holds shard `shard` of `dataset` on its replicas:
// "<dataset>.__shard<shard>". Invalid when that is too long for a dataset name.
arrow::Result<std::string> ShardDatasetName(std::string_view dataset, int32_t shard);

// The sharded dataset and shard that local dataset `name` holds ("<dataset>.__shard<n>");
// nullopt for other names.
std::optional<std::pair<std::string, int32_t>> ShardOfDatasetName(std::string_view name);

// A new map: each shard's `replication` replicas are the live members (`nodes`) that hold the
// fewest replicas of the shards placed before it, ranked by rendezvous hashing of (dataset,
// shard, node) among equals; epoch 1. No member holds 2 replicas more than another
// (BalanceShardMap has nothing to move). Primaries, which take the writes, are then spread as
// evenly as those replicas allow by handing them over between replicas of a shard (an optimal
// semi-matching): balanced replicas let no member be primary of 2 shards more than another,
// so each member is some shard's primary when there are as many shards as members. A shard's
// primary is its first replica.
ShardMap PlaceShards(std::string dataset, int32_t shards, int32_t replication,
                     const std::vector<std::string>& nodes);

// Makes `map` fit the live members `live`: drops the replicas that are gone; a shard whose
// primary is gone gets the first surviving replica that holds all its rows (else the first
// surviving one) as primary; a shard with fewer than map->replication replicas gets live
// members (rendezvous order) that are not `draining` as syncing replicas. Every shard that
// changed gets its epoch bumped. Returns whether anything changed.
bool RepairShardMap(ShardMap* map, const std::set<std::string>& live,
                    const std::set<std::string>& draining = {});

// One step of moving shards towards the live members `live` that hold fewer of `map`'s replicas
// (a member that joined), one shard at a time per dataset, its epoch bumped:
//   1. a shard's leaving replica, marked long enough ago, goes;
//   2. a shard with more than map->replication replicas, none syncing (a move caught up):
//      the replica on the busiest member is marked leaving (another full replica becomes
//      primary if it was the primary);
//   3. no shard moving, and the busiest member holds at least 2 replicas more than the
//      idlest: the idlest is added as a syncing replica of a shard of the busiest, one it held
//      before (`former`) if any (catch-up copies the shard, or reconciles the copy it kept,
//      flips it, and steps 2 and 1 take the busiest's away).
// Returns whether anything changed.
// `leaving_long_enough(shard)`: whether the shard's leaving replica was marked long enough ago
// that no node reads a map older than the mark (then it goes).
// `draining` members are neither counted nor given replicas, and a shard that one of them
// holds is left to its drain (DrainShard), as a shard that is moving.
bool BalanceShardMap(ShardMap* map, const std::set<std::string>& live,
                     const std::function<bool(int32_t shard)>& leaving_long_enough,
                     const std::set<std::string>& draining = {});

// What one step of draining `node` from a shard did (DrainShard).
enum class DrainStep {
  kNotHeld,   // `node` is not a replica of the shard: nothing to do
  kHandOver,  // `node` left the shard; another full replica is primary if it was
  kCopy,      // `node` holds the shard's only full copy: a syncing replica was added
  kWaitCopy,  // a syncing replica is copying the shard: `node` stays until it is full
  kNoTarget,  // `node` holds the only full copy and no member can take one
};

// One step of draining `node` (a member about to leave) from shard `shard` of `map`, which
// it changes (epoch bumped) for kHandOver and kCopy: when another replica holds all the
// shard's rows, `node` leaves the shard's replicas (the first such replica becomes primary
// if `node` was) and members of `placeable` are added as syncing replicas up to
// map->replication; else a member of `placeable` is added as a syncing replica, so that
// catch-up copies the shard and a later step hands it over. The members added are those
// holding the fewest replicas of the map (rendezvous order among equals).
DrainStep DrainShard(ShardMap* map, int32_t shard, const std::string& node,
                     const std::set<std::string>& placeable);

// The integer that `schema`'s metadata holds under `key` (kShardsMetadataKey,
// kReplicationMetadataKey), else `default_value`. Invalid for a value outside [1, max].
arrow::Result<int32_t> MetadataCount(const arrow::Schema& schema, const std::string& key,
                                     int32_t default_value, int32_t max);

// The shard of every id in `ids` (int64, uint64 or utf8; no nulls): XXH3 of the id's bytes
// (little-endian for integers) modulo `shards`. Invalid for other types or nulls.
arrow::Result<std::vector<int32_t>> ShardsOfIds(const arrow::Array& ids, int32_t shards);

}  // namespace arbalest
