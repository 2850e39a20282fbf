#include "cluster/shard_puts.h"

#include <arrow/array/builder_primitive.h>
#include <arrow/compute/api.h>
#include <arrow/flight/client.h>
#include <arrow/status.h>
#include <arrow/util/key_value_metadata.h>
#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <set>

#include "cluster/fan_out_util.h"
#include "flight/call_credentials.h"
#include "flight/ingest_stream.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;
using Batch = std::shared_ptr<arrow::RecordBatch>;

std::optional<MemberInfo> FindMember(const std::vector<MemberInfo>& members,
                                     const std::string& node_id) {
  for (const auto& member : members) {
    if (member.node_id == node_id) return member;
  }
  return std::nullopt;
}

std::string ShardName(const std::string& dataset, int32_t shard) {
  return "shard " + std::to_string(shard) + " of '" + dataset + "'";
}

// A one-shot shard put to `peer`: `batch` (null: the schema alone) under the CMD descriptor
// `hop`; the peer's last ack.
arrow::Result<Json> PutOnce(PeerClients& peers, const MemberInfo& peer, const Json& hop,
                            const std::shared_ptr<arrow::Schema>& schema, const Batch& batch,
                            std::chrono::milliseconds timeout, const std::string& forwarded_token) {
  ARROW_ASSIGN_OR_RAISE(auto client, peers.Get(peer.flight));
  auto result = [&]() -> arrow::Result<Json> {
    fl::FlightCallOptions call = peers.CallOptions(timeout);
    ForwardToken(&call, forwarded_token);
    ARROW_ASSIGN_OR_RAISE(auto put,
                          client->DoPut(call, fl::FlightDescriptor::Command(hop.dump()), schema));
    if (batch) ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    Json ack = Json::object();
    while (true) {
      std::shared_ptr<arrow::Buffer> metadata;
      ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&metadata));
      if (!metadata) break;
      ARROW_ASSIGN_OR_RAISE(ack, ParseJson(metadata->ToString(), "a shard put's ack"));
    }
    ARROW_RETURN_NOT_OK(put.writer->Close());
    return ack;
  }();
  if (!result.ok() && PeerUnreachable(result.status())) peers.Drop(peer.flight);
  return result;
}

// A shard put of `batch` with `hop` to `peer`: a slice on the put stream to it (put_streams.h),
// or with the schema alone (a schema-only put declares the dataset), or without streams, or to
// a node older than put streams, a one-shot shard put.
arrow::Result<Json> PutToPeer(const ShardEnv& env, const MemberInfo& peer, const ShardPutHop& hop,
                              const std::shared_ptr<arrow::Schema>& schema, const Batch& batch) {
  if (env.streams && batch && env.streams->Serves(peer.flight)) {
    auto answer = env.streams->Send(peer.flight, hop, batch, env.timeout, env.forwarded_token);
    // An older node refused the stream before it read a slice: a one-shot put instead.
    if (answer.ok() || env.streams->Serves(peer.flight)) return answer;
  }
  return PutOnce(*env.peers, peer, hop.ToJson(), schema, batch, env.timeout, env.forwarded_token);
}

// A shard put to this node itself, without a loopback hop: PutShardSlice in this node's store.
arrow::Result<Json> PutInProcess(const ShardEnv& env, const ShardPutHop& hop,
                                 const std::shared_ptr<arrow::Schema>& schema, const Batch& batch) {
  return PutShardSlice(env, hop, schema, batch, *env.local);
}

// `status` of shard `shard`'s put, its message naming the shard; a peer that did not answer
// makes it UNAVAILABLE.
arrow::Status ShardFailure(const std::string& dataset, int32_t shard, const arrow::Status& status) {
  const std::string message = ShardName(dataset, shard) + ": " + status.message();
  if (PeerUnreachable(status)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable, message);
  }
  return status.WithMessage(message);
}

// Runs `send` for every entry of `slices` in parallel on `threads`; the answers by shard, or the
// first error (after every call ended).
arrow::Result<std::map<int32_t, Json>> SendAll(
    ThreadCache& threads, const std::map<int32_t, Batch>& slices,
    const std::function<arrow::Result<Json>(int32_t, const Batch&)>& send) {
  std::vector<std::pair<int32_t, std::future<arrow::Result<Json>>>> calls;
  for (const auto& entry : slices) {
    calls.emplace_back(entry.first,
                       threads.Submit([&send, &entry] { return send(entry.first, entry.second); }));
  }
  std::map<int32_t, Json> answers;
  arrow::Status first_error;
  for (auto& [shard, call] : calls) {
    auto answer = call.get();
    if (answer.ok()) {
      answers[shard] = std::move(*answer);
    } else if (first_error.ok()) {
      first_error = answer.status();
    }
  }
  if (!first_error.ok()) return first_error;
  return answers;
}

// `schema` without the metadata keys that only shape the shard map (the store refuses
// metadata keys it does not know).
std::shared_ptr<arrow::Schema> WithoutShardKeys(const arrow::Schema& schema) {
  if (!schema.metadata()) return std::make_shared<arrow::Schema>(schema);
  auto metadata = schema.metadata()->Copy();
  for (const char* key : {kShardsMetadataKey, kReplicationMetadataKey}) {
    if (const int index = metadata->FindKey(key); index >= 0) {
      ARROW_UNUSED(metadata->Delete(index));
    }
  }
  return schema.WithMetadata(std::move(metadata));
}

constexpr std::string_view kIdColumnName = "id";

// The uint64 `id` column that rows get on a dataset with server-assigned ids: first, without
// nulls, as a single node stores assigned ids.
std::shared_ptr<arrow::Field> AssignedIdField() {
  return arrow::field(std::string(kIdColumnName), arrow::uint64(), /*nullable=*/false);
}

// The schema the shards store: `schema` without the shard keys, with the assigned id column
// first when `map` assigns ids.
arrow::Result<std::shared_ptr<arrow::Schema>> RoutedSchema(const ShardMap& map,
                                                           const arrow::Schema& schema) {
  auto routed = WithoutShardKeys(schema);
  if (!map.assigned_ids) return routed;
  return routed->AddField(0, AssignedIdField());
}

// `batch` with the ids [first, first + rows) as its first column.
arrow::Result<Batch> WithAssignedIds(const Batch& batch, uint64_t first) {
  arrow::UInt64Builder ids;
  ARROW_RETURN_NOT_OK(ids.Reserve(batch->num_rows()));
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    ids.UnsafeAppend(first + static_cast<uint64_t>(row));
  }
  ARROW_ASSIGN_OR_RAISE(auto column, ids.Finish());
  return batch->AddColumn(0, AssignedIdField(), std::move(column));
}

class ShardRouter : public PutSink {
 public:
  ShardRouter(ShardEnv env, ShardMap map, std::shared_ptr<arrow::Schema> schema)
      : env_(std::move(env)), map_(std::move(map)), schema_(std::move(schema)) {}

  arrow::Result<Json> Append(const Batch& client_batch) override {
    Batch batch = client_batch;
    std::optional<uint64_t> first_id;
    if (map_.assigned_ids && batch->num_rows() > 0) {
      if (!env_.assign_ids) {
        return arrow::Status::NotImplemented("this node cannot assign ids to the rows of '",
                                             map_.dataset, "'");
      }
      auto assigned = env_.assign_ids(batch->num_rows());
      if (!assigned.ok()) {
        return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                   "cannot assign ids to the rows of '" + map_.dataset +
                                       "' (nothing stored): " + assigned.status().message());
      }
      first_id = *assigned;
      ARROW_ASSIGN_OR_RAISE(batch, WithAssignedIds(batch, *first_id));
    }
    auto ids = batch->GetColumnByName(std::string(kIdColumnName));
    if (!ids) return arrow::Status::Invalid("batch ", batches_, " has no id column");
    ARROW_ASSIGN_OR_RAISE(std::vector<int32_t> shard_of, ShardsOfIds(*ids, map_.shards));
    std::vector<arrow::Int64Builder> rows(static_cast<size_t>(map_.shards));
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      ARROW_RETURN_NOT_OK(rows[shard_of[row]].Append(row));
    }
    std::map<int32_t, Batch> slices;
    Json per_shard = Json::object();
    for (int32_t shard = 0; shard < map_.shards; ++shard) {
      if (rows[shard].length() == 0) continue;
      per_shard[std::to_string(shard)] = rows[shard].length();
      ARROW_ASSIGN_OR_RAISE(auto indices, rows[shard].Finish());
      ARROW_ASSIGN_OR_RAISE(arrow::Datum slice, arrow::compute::Take(batch, indices));
      slices[shard] = slice.record_batch()->ReplaceSchemaMetadata(schema_->metadata());
    }
    ARROW_RETURN_NOT_OK(Send(slices).status());
    ++batches_;
    Json ack{{"status", "acked"}, {"rows", batch->num_rows()}, {"shards", per_shard}};
    if (first_id) ack["first_id"] = *first_id;
    return ack;
  }

  arrow::Status Finish(const arrow::Schema&) override {
    if (batches_ > 0) return arrow::Status::OK();
    // A schema-only put declares the dataset: every shard's replicas create their part.
    std::map<int32_t, Batch> everywhere;
    for (int32_t shard = 0; shard < map_.shards; ++shard) everywhere[shard] = nullptr;
    return Send(everywhere).status();
  }

  int64_t batches() const override { return batches_; }

 private:
  arrow::Result<std::map<int32_t, Json>> Send(const std::map<int32_t, Batch>& slices) {
    ARROW_ASSIGN_OR_RAISE(ShardMap map, CurrentMap(/*fresh=*/false));
    return SendAll(*env_.threads, slices, [&](int32_t shard, const Batch& slice) {
      return SendToPrimary(map, shard, slice);
    });
  }

  // The map, read again when `fresh` (else when the cached one is old), with the members that
  // are gone replaced: failover, by an etcd transaction (shard_map.h).
  arrow::Result<ShardMap> CurrentMap(bool fresh) {
    ARROW_ASSIGN_OR_RAISE(auto map, env_.maps->Get(map_.dataset, fresh));
    if (!map) return arrow::Status::IOError("the shard map of '", map_.dataset, "' is gone");
    const std::vector<MemberInfo> members = env_.members();
    const std::set<std::string> live = MemberIds(members);
    ShardMap repaired = *map;
    if (live.empty() || !RepairShardMap(&repaired, live, MemberIds(members, true))) return *map;
    ARROW_ASSIGN_OR_RAISE(ShardMap stored, env_.maps->Update(repaired));
    spdlog::info("shard map of '{}' repaired for the live members: {}", map_.dataset,
                 stored.ToJson().dump());
    return stored;
  }

  arrow::Result<Json> SendToPrimary(ShardMap map, int32_t shard, const Batch& slice) {
    arrow::Status failure;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (attempt > 0) {
        ARROW_ASSIGN_OR_RAISE(map, CurrentMap(/*fresh=*/true));
      }
      const ShardPlacement& placement = map.placement[shard];
      const auto primary = FindMember(env_.members(), placement.primary);
      if (!primary) {
        return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                   ShardName(map.dataset, shard) + ": its primary '" +
                                       placement.primary + "' is not a live member");
      }
      const ShardPutHop hop{map.dataset, shard, placement.epoch, true, env_.write_quorum};
      const auto& schema = slice ? slice->schema() : schema_;
      auto ack = primary->node_id == env_.self_id && env_.local
                     ? PutInProcess(env_, hop, schema, slice)
                     : PutToPeer(env_, *primary, hop, schema, slice);
      if (ack.ok()) return ack;
      failure = ack.status();
      if (!IsStaleEpoch(failure)) break;  // a primary deposed meanwhile: read the map again
    }
    return ShardFailure(map.dataset, shard, failure);
  }

  const ShardEnv env_;
  const ShardMap map_;
  const std::shared_ptr<arrow::Schema> schema_;
  int64_t batches_ = 0;
};

class ShardReplicaSink : public PutSink {
 public:
  ShardReplicaSink(ShardEnv env, ShardPutHop hop, ShardMap map, std::unique_ptr<PutSink> local,
                   std::shared_ptr<ShardFence> fence)
      : env_(std::move(env)),
        hop_(std::move(hop)),
        map_(std::move(map)),
        local_(std::move(local)),
        fence_(std::move(fence)) {}

  arrow::Result<Json> Append(const Batch& batch) override {
    // A catch-up copies the shard while no batch is stored nor replicated (shard_catchup.h).
    if (fence_) {
      ARROW_RETURN_NOT_OK(fence_->Enter(env_.timeout, ShardName(hop_.dataset, hop_.shard)));
    }
    FenceEntry entry(fence_);
    if (hop_.primary) ARROW_RETURN_NOT_OK(FollowEpoch());
    ARROW_ASSIGN_OR_RAISE(Json ack, local_->Append(batch));
    if (hop_.primary) {
      ARROW_ASSIGN_OR_RAISE(ack["replicas"], Replicate(batch->schema(), batch));
    }
    return ack;
  }

  arrow::Status Finish(const arrow::Schema& schema) override {
    ARROW_RETURN_NOT_OK(local_->Finish(schema));
    if (!hop_.primary || local_->batches() > 0) return arrow::Status::OK();
    return Replicate(std::make_shared<arrow::Schema>(schema), nullptr).status();
  }

  int64_t batches() const override { return local_->batches(); }

 private:
  // Sends what this primary stored to the other replicas; how many replicas hold it (this one
  // included). A replica that refuses the put's epoch as stale (the map changed since this
  // node read it: a move or catch-up went on) makes it read the map again and, if it is still
  // the primary, send to the replicas of the new epoch that lack the rows. UNAVAILABLE, naming
  // the shard and the replicas that failed, under what Needed() asks.
  arrow::Result<int64_t> Replicate(const std::shared_ptr<arrow::Schema>& schema,
                                   const Batch& batch) {
    std::set<std::string> holders{env_.self_id};
    std::string failures;
    for (int round = 0; round < 2; ++round) {
      bool stale = false;
      SendToReplicas(schema, batch, &holders, &failures, &stale);
      if (!stale || round > 0 || !Refresh()) break;
    }
    int64_t held = 0;
    for (const auto& node : map_.placement[hop_.shard].replicas) held += holders.contains(node);
    const int64_t needed = Needed();
    if (held < needed) {
      return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                 ShardName(hop_.dataset, hop_.shard) + ": durable on " +
                                     std::to_string(held) + " replica(s), " +
                                     std::to_string(needed) + " needed; not acked (the rows " +
                                     "stored may appear):" + failures);
    }
    return held;
  }

  // Sends the rows to the replicas of map_ not in `holders`, in parallel; adds those that
  // stored them, appends the others' errors to `failures`, and sets `stale` when one refused
  // the epoch.
  void SendToReplicas(const std::shared_ptr<arrow::Schema>& schema, const Batch& batch,
                      std::set<std::string>* holders, std::string* failures, bool* stale) {
    ShardPutHop replica_hop = hop_;
    replica_hop.primary = false;
    const std::vector<MemberInfo> members = env_.members();
    std::vector<std::pair<std::string, std::future<arrow::Result<Json>>>> calls;
    for (const auto& node : map_.placement[hop_.shard].replicas) {
      if (holders->contains(node)) continue;
      const auto member = FindMember(members, node);
      if (!member) {
        *failures += " " + node + ": not a live member;";
        continue;
      }
      calls.emplace_back(node, env_.threads->Submit([&, member = *member] {
        return PutToPeer(env_, member, replica_hop, schema, batch);
      }));
    }
    for (auto& [node, call] : calls) {
      auto answer = call.get();
      if (answer.ok()) {
        holders->insert(node);
        continue;
      }
      *stale = *stale || IsStaleEpoch(answer.status());
      *failures += " " + node + ": " + answer.status().message() + ";";
    }
  }

  // Once in the fence, where a catch-up or a drain may have held the batch while the map
  // changed: a primary that was deposed meanwhile (a drain handed the shard over) refuses the
  // batch as stale, so that the router sends it to the new primary; one still primary follows
  // the map's new epoch (its replicas).
  arrow::Status FollowEpoch() {
    ARROW_ASSIGN_OR_RAISE(auto current, env_.maps->Get(hop_.dataset));
    if (!current || hop_.shard >= current->shards) return arrow::Status::OK();
    const ShardPlacement& placement = current->placement[hop_.shard];
    if (placement.epoch <= hop_.epoch) return arrow::Status::OK();
    if (placement.primary != env_.self_id) {
      return arrow::Status::Invalid(
          kStaleEpoch, " ", hop_.epoch, " for ", ShardName(hop_.dataset, hop_.shard),
          ": the shard map moved to epoch ", placement.epoch,
          " while the batch waited; its primary is now '", placement.primary, "'");
    }
    hop_.epoch = placement.epoch;
    map_ = std::move(*current);
    return arrow::Status::OK();
  }

  // Reads the map again; whether this node is still the shard's primary (map_ and the epoch of
  // the hops to replicas follow the new map then).
  bool Refresh() {
    auto fresh = env_.maps->Get(hop_.dataset, /*fresh=*/true);
    if (!fresh.ok() || !*fresh || hop_.shard >= (*fresh)->shards) return false;
    const ShardPlacement& placement = (*fresh)->placement[hop_.shard];
    if (placement.primary != env_.self_id) return false;
    map_ = std::move(**fresh);
    hop_.epoch = placement.epoch;
    return true;
  }

  // The replicas that must hold a batch before it is acked: W of R, and while a move or a
  // catch-up gives the shard more replicas than R, every one of them but the R - W that W
  // allows to miss (a replica that becomes readable, or stays so while leaving, must not lack
  // an acked row).
  int64_t Needed() const {
    const int64_t quorum = hop_.write_quorum > 0 ? hop_.write_quorum : map_.replication;
    const int64_t may_miss = std::max<int64_t>(0, map_.replication - quorum);
    const auto replicas = static_cast<int64_t>(map_.placement[hop_.shard].replicas.size());
    return std::max<int64_t>(quorum, replicas - may_miss);
  }

  const ShardEnv env_;
  ShardPutHop hop_;  // its epoch and map_ follow the map when a replica finds them stale
  ShardMap map_;
  std::unique_ptr<PutSink> local_;
  const std::shared_ptr<ShardFence> fence_;  // null: none
};

}  // namespace

arrow::Result<Json> PutShardSlice(const ShardEnv& env, const ShardPutHop& hop,
                                  const std::shared_ptr<arrow::Schema>& schema, const Batch& batch,
                                  const LocalPuts& local) {
  ARROW_ASSIGN_OR_RAISE(auto sink, OpenShardReplicaSink(env, hop, local));
  Json ack = Json::object();
  if (batch) {
    ARROW_ASSIGN_OR_RAISE(ack, sink->Append(batch));
  }
  ARROW_RETURN_NOT_OK(ForClient(sink->Finish(*schema)));
  return ack;
}

arrow::Result<std::unique_ptr<PutSink>> OpenShardRouter(ShardEnv env, ShardMap map,
                                                        const arrow::Schema& schema) {
  const bool has_ids = schema.GetFieldIndex(std::string(kIdColumnName)) >= 0;
  if (map.assigned_ids && has_ids) {
    return arrow::Status::Invalid("dataset '", map.dataset,
                                  "' numbers its rows itself (it was created without an 'id' "
                                  "column); remove the 'id' column from the batch");
  }
  if (!map.assigned_ids && !has_ids) {
    return arrow::Status::Invalid(
        "missing column 'id' required by dataset '", map.dataset, "' (sharded, ", map.shards,
        " shards, created with ids of its own: every put carries them; a dataset created "
        "without an 'id' column gets server-assigned ids)");
  }
  ARROW_ASSIGN_OR_RAISE(auto routed, RoutedSchema(map, schema));
  return std::make_unique<ShardRouter>(std::move(env), std::move(map), std::move(routed));
}

arrow::Result<std::unique_ptr<PutSink>> OpenShardReplicaSink(ShardEnv env, ShardPutHop hop,
                                                             const LocalPuts& local) {
  ARROW_ASSIGN_OR_RAISE(auto map, env.maps->Get(hop.dataset));
  if (!map || hop.shard < 0 || hop.shard >= map->shards ||
      hop.epoch > map->placement[hop.shard].epoch) {
    ARROW_ASSIGN_OR_RAISE(map, env.maps->Get(hop.dataset, /*fresh=*/true));
  }
  if (!map) return arrow::Status::Invalid("shard put into '", hop.dataset, "': no shard map");
  if (hop.shard < 0 || hop.shard >= map->shards) {
    return arrow::Status::Invalid("shard put into '", hop.dataset, "': no shard ", hop.shard);
  }
  const ShardPlacement& placement = map->placement[hop.shard];
  const std::string shard = ShardName(hop.dataset, hop.shard);
  if (hop.epoch != placement.epoch) {
    return arrow::Status::Invalid(kStaleEpoch, " ", hop.epoch, " for ", shard,
                                  ": the shard map is at epoch ", placement.epoch);
  }
  if (hop.primary ? placement.primary != env.self_id : !placement.HasReplica(env.self_id)) {
    return arrow::Status::Invalid(kStaleEpoch, " ", hop.epoch, " for ", shard, ": node '",
                                  env.self_id, "' is not its ", hop.primary ? "primary" : "replica",
                                  " at that epoch");
  }
  ARROW_ASSIGN_OR_RAISE(std::string name, ShardDatasetName(hop.dataset, hop.shard));
  auto fence = env.fences ? env.fences->Of(name) : nullptr;
  return std::make_unique<ShardReplicaSink>(std::move(env), std::move(hop), std::move(*map),
                                            local.open(name, HeldIds::kReplace), std::move(fence));
}

}  // namespace arbalest
