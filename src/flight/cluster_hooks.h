// What the Flight service asks of the cluster a node belongs to (src/cluster implements it; a
// node without cluster flags has none and answers from its own store, as it always did): the
// `cluster-status` document and the scatter-gather of a search over the live members. An
// interface here, so that the Flight layer does not depend on how membership is kept.
#pragma once

#include <arrow/flight/types.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_util.h"
#include "flight/catalog_entry.h"
#include "flight/put_sink.h"
#include "store/dataset.h"
#include "store/dataset_commit.h"
#include "store/memory_budget.h"

namespace arrow::flight {
class FlightMessageReader;
class FlightMetadataWriter;
}  // namespace arrow::flight

namespace arbalest {

// The cluster keys of a search request (protocol.md): `local_only` (this node's rows only; what
// a fan-out hop carries), `require_all` (an error instead of a partial result) and `timeout_ms`
// (how long the fan-out waits for members; unset: the node's default).
struct FanOutOptions {
  bool local_only = false;
  bool require_all = false;
  std::optional<int64_t> timeout_ms;
  // Added to the timeout: how long a member may wait before it answers (check_readiness's wait).
  int64_t extra_timeout_ms = 0;
  // The client's token, forwarded with the hops that write on its behalf (a delete's), so that
  // every node checks the client's own permission (flight/call_credentials.h); empty: none.
  std::string forwarded_token;
};

// A member whose part of a search is not in the result, and why ("timeout", "no dataset",
// "unavailable: ..."); for a sharded dataset, the shard that is missing (no replica answered;
// `node` is the last one asked).
struct MissingNode {
  std::string node;
  std::string reason;
  int32_t shard = -1;  // -1: not a shard's part
};

// A hybrid search that fans out with global BM25 statistics (docs/cluster.md, "Hybrid
// search"): the coordinator gathers the statistics of every shard for `text_query`, has each
// shard return its candidates scored with their sums, and fuses the merged lists with weight
// `alpha`, each side `depth` deep, as one node would.
struct HybridFusion {
  std::string text_query;
  double alpha = 0.5;
  int64_t depth = 0;
};

struct ClusterSearchResult {
  std::shared_ptr<arrow::RecordBatch> batch;  // the columns of a single node's search
  std::vector<MissingNode> missing;           // empty: every member answered
};

// What one member stores: the sums over its own listing, every shard copy it holds included.
struct MemberTotals {
  std::string node;
  int64_t rows = 0;          // live rows
  int64_t deleted_rows = 0;  // deleted, still stored until compaction
  int64_t bytes = 0;
};

// The cluster's datasets under their logical names (cluster/catalog_merge.h), the members or
// shards whose datasets are not in it, and each answering member's own totals (this node's
// first), so one fan-out tells both what the cluster holds and what each node stores.
struct ClusterCatalog {
  std::vector<CatalogEntry> entries;
  std::vector<MissingNode> missing;
  std::vector<MemberTotals> members;
};

// One member's JSON answer to an action.
struct NodeAnswer {
  std::string node;
  Json answer;
};

struct ClusterActionResult {
  std::vector<NodeAnswer> answers;  // this node's first when it answered
  std::vector<MissingNode> missing;
};

// [{"node", "reason"}, ...] for app_metadata and schema metadata.
Json MissingNodesJson(const std::vector<MissingNode>& missing);

// [{"shard", "node", "reason"}, ...]: the entries of `missing` that name a shard.
Json MissingShardsJson(const std::vector<MissingNode>& missing);

// Sets `answer`'s "missing_nodes" to MissingNodesJson(missing) and, when shards are missing,
// its "missing_shards" to MissingShardsJson(missing): what JSON answers carry.
void SetMissing(Json& answer, const std::vector<MissingNode>& missing);

// The schema metadata keys of a search result that carry MissingNodesJson and
// MissingShardsJson (protocol.md).
inline constexpr const char* kMissingNodesMetadataKey = "arbalest.missing_nodes";
inline constexpr const char* kMissingShardsMetadataKey = "arbalest.missing_shards";

// `schema` with MissingNodesJson(missing) in its metadata when `missing` is not empty.
std::shared_ptr<arrow::Schema> SchemaWithMissingNodes(std::shared_ptr<arrow::Schema> schema,
                                                      const std::vector<MissingNode>& missing);

// `batch` with MissingNodesJson(missing) in its schema metadata when `missing` is not empty.
std::shared_ptr<arrow::RecordBatch> WithMissingNodes(std::shared_ptr<arrow::RecordBatch> batch,
                                                     const std::vector<MissingNode>& missing);

// A local dataset's rows and, of them, those whose graph its latest snapshot restored when the
// node started: the others were indexed again since, or wait for it.
struct RestoredIndex {
  int64_t rows = 0;
  int64_t restored_rows = 0;
};

// What a routed put (and a shard's catch-up) needs of this node: a sink into one of its local
// datasets (IngestStream; `held_ids`: how a dataset whose ids are unique takes rows of ids it
// holds, store/dataset_commit.h), whether it holds a dataset already, and dropping one (a stale
// shard copy).
struct LocalPuts {
  std::function<std::unique_ptr<PutSink>(const std::string& dataset, HeldIds held_ids)> open;
  std::function<bool(const std::string& dataset)> holds;
  std::function<arrow::Status(const std::string& dataset)> drop;
  // Deletes the rows of `ids` (a JSON array) from a local dataset; the count deleted.
  std::function<arrow::Result<int64_t>(const std::string& dataset, const Json& ids)> remove;
  // Appends a sealed segment shipped from the shard's primary to a local dataset (created from
  // the segment's schema when absent) with its graph (VectorStore::AdoptSegment); the rows
  // appended. Null: this node adopts none.
  std::function<arrow::Result<int64_t>(const std::string& dataset, const SegmentMutation&)> adopt;
  // How much of a local dataset's index its snapshot restored. Null: not known (a returning
  // node then keeps every copy it holds).
  std::function<arrow::Result<RestoredIndex>(const std::string& dataset)> restored_index;
  // Waits at most the given time for a snapshot `snapshot` asked for: its report as the
  // `snapshot` action gives it ({"dataset", "lsn", "rows", "indexed_rows", ...}), nullopt when
  // it is not written in time (it goes on; the wait may be called again), or the snapshot's
  // error.
  using SnapshotWait = std::function<arrow::Result<std::optional<Json>>(std::chrono::milliseconds)>;
  // Asks this node's snapshot thread to snapshot a local dataset after the snapshot in
  // progress (Snapshotter::Enqueue), without waiting: the copy's adopted segments written as
  // segment files and named by a manifest at once, rather than at the next snapshot round.
  // NotImplemented when snapshots are off. Null: this node snapshots none.
  std::function<arrow::Result<SnapshotWait>(const std::string& dataset)> snapshot;
};

// What this node's Flight service answers, run in-process: a cluster node asks its own shards
// through it instead of over a loopback Flight hop. `get` opens the stream of a DoGet ticket,
// `action` answers an action's first Result as JSON, each exactly as the RPC would (its
// errors included).
struct LocalReads {
  std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>(const std::string& ticket)>
      get;
  std::function<arrow::Result<Json>(const std::string& type, const std::string& body)> action;
  // A local dataset's current view (its batches, segments and schema: what a scan of it reads);
  // KeyError when absent. Null: not offered (the cluster reads a scan instead).
  std::function<arrow::Result<DatasetSnapshot>(const std::string& dataset)> snapshot;
  // The store's memory budget (--max-memory), which the cluster charges what it keeps beside
  // the store (its digest cache, cluster/digest_cache.h). Null: charged nowhere.
  std::shared_ptr<MemoryBudget> memory;
};

// Thread-safe: called from many RPCs at once.
class ClusterHooks {
 public:
  virtual ~ClusterHooks() = default;

  // The `cluster-status` document (protocol.md).
  virtual Json Status() const = 0;

  // One query of a search: `local` runs it on this node's store; `keys` are its DoGet search
  // keys (one "vector", no "vectors"), sent with local_only to every other live member in
  // parallel; the answers are merged to the best `k` rows by score. KeyError when no node holds
  // the dataset; with options.require_all, UNAVAILABLE naming the first missing member.
  // `hybrid` (a hybrid search's, HybridFusionFor): the two phases of HybridFusion instead, where
  // `local` is not used (this node's part is asked through LocalReads).
  virtual arrow::Result<ClusterSearchResult> Search(
      const Json& keys, int64_t k, const FanOutOptions& options,
      const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>& local,
      const std::optional<HybridFusion>& hybrid) = 0;

  // A scan: `local` opens this node's reader; `keys` (a scan ticket's) are sent with local_only
  // to every other live member in parallel. The reader yields this node's rows, then each
  // member's in turn, at most `limit` rows in all; its schema is this node's (or the first
  // member's that holds the dataset), with MissingNodesJson in its metadata when members are
  // missing. KeyError when no node holds the dataset; with options.require_all, UNAVAILABLE
  // naming the first missing member. Each member's stream must end within the timeout.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(
      const Json& keys, std::optional<int64_t> limit, const FanOutOptions& options,
      const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()>& local) = 0;

  // A JSON action (its first Result): `local` answers on this node; `body` is sent with
  // local_only to every other live member in parallel. Errors as Search's.
  virtual arrow::Result<ClusterActionResult> Action(
      const std::string& type, const Json& body, const FanOutOptions& options,
      const std::function<arrow::Result<Json>()>& local) = 0;

  // The catalog of ListFlights, GetFlightInfo and GetSchema: `local` lists this node's own
  // datasets; every other live member is asked for its own (a ListFlights with local_only), in
  // parallel, and the answers are merged (a sharded dataset once, from one readable replica of
  // each shard; an unsharded one summed over its members). `name_part`: only datasets whose
  // local name holds it. With options.require_all, UNAVAILABLE naming the first missing member
  // or shard.
  virtual arrow::Result<ClusterCatalog> Catalog(
      std::string_view name_part, const FanOutOptions& options,
      const std::function<std::vector<CatalogEntry>()>& local) = 0;

  // The sink of a put stream with `descriptor` and `schema` when the cluster routes it: a put to
  // a sharded dataset (created sharded when it is new and this node shards new datasets),
  // split by shard and forwarded to each shard's primary; or a shard put between nodes (a CMD
  // descriptor), stored in `local` and, on the shard's primary, replicated. Null: a put to this
  // node's own store, as on a single node. `forwarded_token`: the client's token
  // (CallerToken), which the shard puts carry so that each node checks the client's permission.
  virtual arrow::Result<std::unique_ptr<PutSink>> OpenPut(
      const arrow::flight::FlightDescriptor& descriptor,
      const std::shared_ptr<arrow::Schema>& schema, const LocalPuts& local,
      const std::string& forwarded_token) = 0;

  // Serves a put stream between nodes (a CMD descriptor {"shard_put_stream": ...},
  // cluster/put_streams.h) on `reader` and `writer`: many slices of routed puts, each stored in
  // `local` (and replicated, on a shard's primary) and answered on its own; nullopt when
  // `descriptor` is not one. `forwarded_token` as OpenPut's.
  virtual std::optional<arrow::Status> ServePutStream(
      const arrow::flight::FlightDescriptor& descriptor, arrow::flight::FlightMessageReader& reader,
      arrow::flight::FlightMetadataWriter& writer, const LocalPuts& local,
      const std::string& forwarded_token) {
    (void)descriptor;
    (void)reader;
    (void)writer;
    (void)local;
    (void)forwarded_token;
    return std::nullopt;
  }

  // Whether the calls to other members carry the cluster token (this node requires tokens).
  // The cluster role may not write by itself: a write that fans out forwards the client's token.
  virtual bool HopsCarryToken() const = 0;

  // Gives the cluster this node's store (what shard catch-up writes into), once the Flight
  // service exists.
  virtual void AttachLocal(LocalPuts local) { (void)local; }
  // Gives the cluster this node's own answers to DoGet and actions (LocalReads), once the
  // Flight service exists.
  virtual void AttachLocalReads(LocalReads reads) { (void)reads; }

  // Tells the cluster that a local_only delete of `ids` (one JSON id or an array) from local
  // dataset `dataset` is about to run (a shard's catch-up must not copy those rows back).
  virtual void NoteLocalDelete(const std::string& dataset, const Json& ids) {
    (void)dataset;
    (void)ids;
  }

  // Admits a local_only delete from local dataset `dataset` (`request`: its body) before it
  // runs: on a shard's copy it enters the shard's fence (waits while a catch-up copies the
  // shard, as a shard put does; UNAVAILABLE when it stays closed) and checks the hop's
  // `shard_epoch` against the shard map (Invalid "stale epoch ..." when the map moved: the
  // sender reads it again and asks the shard's replicas at the new epoch). What it returns
  // holds the fence until dropped; null: nothing to hold.
  virtual arrow::Result<std::shared_ptr<void>> AdmitLocalDelete(const std::string& dataset,
                                                                const Json& request) {
    (void)dataset;
    (void)request;
    return nullptr;
  }

  // Answers the actions between cluster nodes (`shard-fence`); nullopt for other types.
  virtual std::optional<arrow::Result<Json>> InternalAction(std::string_view type,
                                                            std::string_view body) {
    (void)type;
    (void)body;
    return std::nullopt;
  }
};

// The `cluster-status` document of a node without cluster flags.
Json SingleNodeStatus();

// Parses local_only, require_all and timeout_ms from search `keys`. Invalid names a bad value.
arrow::Result<FanOutOptions> ParseFanOutOptions(const Json& keys, std::string_view what);

}  // namespace arbalest
