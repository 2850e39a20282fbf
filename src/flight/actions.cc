#include "flight/actions.h"

#include <arrow/array.h>
#include <arrow/flight/types.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <arrow/status.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "flight/catalog.h"
#include "flight/cluster_delete.h"
#include "flight/cluster_readiness.h"
#include "flight/cluster_search.h"
#include "flight/cluster_search_by_id.h"
#include "flight/cluster_stats.h"
#include "flight/filter_parser.h"
#include "flight/graph_actions.h"
#include "flight/json_values.h"
#include "flight/namespace_actions.h"
#include "flight/search_request.h"
#include "flight/segment_shipping.h"
#include "flight/text_stats.h"
#include "store/id_lookup.h"
#include "store/search.h"
#include "store/search_by_id.h"

namespace arbalest {
namespace {

std::string BodyOf(std::string_view action) {
  return "body of action '" + std::string(action) + "'";
}

// The body of `action`, a JSON object with no keys but `keys` ({} when empty).
arrow::Result<Json> ActionBody(std::string_view body, std::string_view action,
                               std::initializer_list<std::string_view> keys) {
  if (body.empty()) return Json::object();
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, BodyOf(action)));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(request, keys, BodyOf(action)));
  return request;
}

arrow::Result<std::optional<std::string>> DatasetArgument(std::string_view body,
                                                          std::string_view action) {
  ARROW_ASSIGN_OR_RAISE(Json request, ActionBody(body, action, {"dataset", "name"}));
  return GetOptionalString(request, {"dataset", "name"}, BodyOf(action));
}

arrow::Result<Json> LocalStats(VectorStore& store, const std::optional<std::string>& name) {
  if (name) {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
    return DatasetStats(*dataset);
  }
  Json datasets = Json::array();
  int64_t total_rows = 0;
  int64_t total_deleted_rows = 0;
  int64_t total_bytes = 0;
  for (const auto& dataset : store.List()) {
    Json stats = DatasetStats(*dataset);
    total_rows += stats["rows"].get<int64_t>();
    total_deleted_rows += stats["deleted_rows"].get<int64_t>();
    total_bytes += stats["bytes"].get<int64_t>();
    datasets.push_back(std::move(stats));
  }
  return Json{{"datasets", std::move(datasets)},
              {"total_rows", total_rows},
              {"total_deleted_rows", total_deleted_rows},
              {"total_bytes", total_bytes},
              {"memory_used_bytes", store.memory().data_bytes()},
              {"memory_held_freed_bytes", store.memory().held_freed()},
              {"memory_limit_bytes", store.memory().limit()}};
}

// On a cluster node without local_only, with the sums of every member (cluster_stats.h).
arrow::Result<Json> Stats(VectorStore& store, std::string_view body, ClusterHooks* cluster) {
  ARROW_ASSIGN_OR_RAISE(
      Json request,
      ActionBody(body, "stats", {"dataset", "name", "local_only", "require_all", "timeout_ms"}));
  ARROW_ASSIGN_OR_RAISE(auto name,
                        GetOptionalString(request, {"dataset", "name"}, BodyOf("stats")));
  ARROW_ASSIGN_OR_RAISE(auto fan_out, ParseFanOutOptions(request, BodyOf("stats")));
  auto local = [&store, &name] { return LocalStats(store, name); };
  if (!cluster || fan_out.local_only) return local();
  return ClusterStats(*cluster, request, fan_out, local, [&store] { return LocalCatalog(store); });
}

arrow::Result<Json> DeleteDataset(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto name, DatasetArgument(body, "delete-dataset"));
  if (!name) return arrow::Status::Invalid("action 'delete-dataset' needs {\"dataset\": name}");
  ARROW_RETURN_NOT_OK(store.Drop(*name));
  return Json{{"deleted", true}};
}

// {"dataset"} -> {"dataset", "reclaimed_rows", "reclaimed_bytes", "rows", "seconds",
// "retired_keys"}.
arrow::Result<Json> Compact(VectorStore& store, std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto name, DatasetArgument(body, "compact"));
  if (!name) return arrow::Status::Invalid("action 'compact' needs {\"dataset\": name}");
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
  ARROW_ASSIGN_OR_RAISE(CompactionReport report, store.Compact(*dataset));
  return Json{{"dataset", dataset->name()},
              {"reclaimed_rows", report.reclaimed_rows},
              {"reclaimed_bytes", report.reclaimed_bytes},
              {"rows", dataset->Snapshot().live_rows()},
              {"seconds", report.seconds},
              {"retired_keys", report.retired_keys}};
}

// {"dataset", "id"} or {"dataset", "ids": [...]} -> {"deleted": rows deleted}.
arrow::Result<Json> LocalDelete(VectorStore& store, const Json& request) {
  constexpr std::string_view what = "body of action 'delete'";
  ARROW_ASSIGN_OR_RAISE(auto name, GetOptionalString(request, {"dataset", "name"}, what));
  const bool one = request.contains("id");
  if (!name || one == request.contains("ids")) {
    return arrow::Status::Invalid(
        "action 'delete' needs {\"dataset\": name, \"id\": id} or {\"dataset\": name, "
        "\"ids\": [id, ...]}");
  }
  const Json& ids = request[one ? "id" : "ids"];
  if (one ? ids.is_array() : (!ids.is_array() || ids.empty())) {
    return arrow::Status::Invalid(one ? "'id' must be one id (a number or a string), got "
                                      : "'ids' must be a non-empty JSON array of ids, got ",
                                  JsonForMessage(ids));
  }
  ARROW_ASSIGN_OR_RAISE(arrow::ScalarVector literals, ParseIds(ids, one, one ? "id" : "ids"));
  ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(*name));
  ARROW_ASSIGN_OR_RAISE(auto id_array, IdsToArray(literals, one, *dataset, one ? "id" : "ids"));
  ARROW_ASSIGN_OR_RAISE(int64_t deleted, store.Delete(*dataset, *id_array));
  return Json{{"deleted", deleted}};
}

// On a cluster node without local_only, on every member (cluster_delete.h).
arrow::Result<Json> Delete(VectorStore& store, std::string_view body, ClusterHooks* cluster,
                           const std::string& caller_token) {
  constexpr std::string_view what = "body of action 'delete'";
  ARROW_ASSIGN_OR_RAISE(Json request, ParseJsonObject(body, what));
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      request,
      {"dataset", "name", "id", "ids", "local_only", "require_all", "timeout_ms", "shard_epoch"},
      what));
  ARROW_ASSIGN_OR_RAISE(auto fan_out, ParseFanOutOptions(request, what));
  auto local = [&store, &request] { return LocalDelete(store, request); };
  std::shared_ptr<void> admitted;  // a shard's fence, held while the delete runs
  if (cluster && fan_out.local_only) {
    const auto name = request.find(request.contains("dataset") ? "dataset" : "name");
    const auto ids = request.find(request.contains("ids") ? "ids" : "id");
    if (name != request.end() && name->is_string() && ids != request.end()) {
      ARROW_ASSIGN_OR_RAISE(admitted, cluster->AdmitLocalDelete(name->get<std::string>(), request));
      cluster->NoteLocalDelete(name->get<std::string>(), *ids);
    }
  }
  if (!cluster || fan_out.local_only) return local();
  fan_out.forwarded_token = caller_token;
  return ClusterDelete(*cluster, request, fan_out, local);
}

// {"dataset", "id", "k", "ef", "filters"} -> {"ids": [...], "scores": [...]}, best first.
// On a cluster node without local_only, across the members (cluster_search_by_id.h), with
// "missing_nodes" when some did not answer.
arrow::Result<Json> VectorSearchById(VectorStore& store, std::string_view body,
                                     ClusterHooks* cluster, ServerMetrics* metrics) {
  constexpr std::string_view what = "body of action 'VectorSearchByID'";
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, what));
  ARROW_ASSIGN_OR_RAISE(ParsedSearchById search, ParseSearchById(keys, what));
  ClusterSearchResult found;
  if (cluster && !search.fan_out.local_only) {
    ARROW_ASSIGN_OR_RAISE(found, ClusterSearchById(store, *cluster, keys, search, metrics));
  } else {
    ARROW_ASSIGN_OR_RAISE(auto dataset, store.Get(search.dataset));
    ARROW_ASSIGN_OR_RAISE(auto id, IdsToArray({search.id}, /*single=*/true, *dataset, "id"));
    search.request.columns = std::vector<std::string>{};
    ARROW_ASSIGN_OR_RAISE(found.batch, SearchDatasetById(*dataset, *id, std::move(search.request)));
  }
  const auto& result = found.batch;
  const auto& scores = static_cast<const arrow::FloatArray&>(*result->GetColumnByName("score"));
  Json score_values = Json::array();
  for (int64_t i = 0; i < scores.length(); ++i) score_values.push_back(scores.Value(i));
  Json answer{{"ids", ValuesToJson(*result->column(0))}, {"scores", std::move(score_values)}};
  if (!found.missing.empty()) answer["missing_nodes"] = MissingNodesJson(found.missing);
  return answer;
}

// The longest a check_readiness call may wait for READY.
constexpr double kMaxReadinessWaitSeconds = 600;

// {"dataset"} and {"wait": seconds} of check_readiness, both optional, and the cluster keys.
struct ReadinessRequest {
  Json keys = Json::object();
  std::optional<std::string> dataset;
  double wait_seconds = 0;
  FanOutOptions fan_out;
};

arrow::Result<ReadinessRequest> ParseReadinessRequest(std::string_view body) {
  ReadinessRequest request;
  if (body.empty()) return request;
  const std::string what = "body of action 'check_readiness'";
  ARROW_ASSIGN_OR_RAISE(request.keys, ParseJsonObject(body, what));
  const Json& keys = request.keys;
  ARROW_RETURN_NOT_OK(CheckKnownKeys(
      keys, {"dataset", "name", "wait", "local_only", "require_all", "timeout_ms"}, what));
  ARROW_ASSIGN_OR_RAISE(request.dataset, GetOptionalString(keys, {"dataset", "name"}, what));
  ARROW_ASSIGN_OR_RAISE(request.fan_out, ParseFanOutOptions(keys, what));
  if (keys.contains("wait")) {
    const Json& wait = keys["wait"];
    if (wait.is_boolean()) {
      request.wait_seconds = wait.get<bool>() ? kMaxReadinessWaitSeconds : 0;
    } else if (wait.is_number() && wait.get<double>() >= 0 &&
               wait.get<double>() <= kMaxReadinessWaitSeconds) {
      request.wait_seconds = wait.get<double>();
    } else {
      return arrow::Status::Invalid("'wait' in ", what, " must be true/false or seconds in [0, ",
                                    kMaxReadinessWaitSeconds, "], got ", JsonForMessage(wait));
    }
  }
  return request;
}

// Indexed and pending (acked, not yet in the graph) rows of the datasets, and whether all is at
// rest: nothing pending and no indexing turn finishing its bookkeeping (sharing vectors,
// charging memory), so that stats read after READY do not change under the reader.
struct IndexProgress {
  int64_t indexed = 0;
  int64_t pending = 0;
  bool ready = true;
};

IndexProgress ProgressOf(const std::vector<std::shared_ptr<Dataset>>& datasets) {
  IndexProgress progress;
  for (const auto& dataset : datasets) {
    const DatasetSnapshot snapshot = dataset->Snapshot();  // rows and index of one moment
    progress.indexed += snapshot.indexed_rows;
    progress.pending += snapshot.num_rows - snapshot.indexed_rows;
    if (dataset->indexing()) progress.ready = false;
  }
  if (progress.pending > 0) progress.ready = false;
  return progress;
}

// {"status": READY (every row indexed) | BUSY | NOT_FOUND, "index_len", "pending"}; with
// "wait", answers once READY or when the wait is over (then BUSY).
arrow::Result<Json> LocalReadiness(VectorStore& store, const ReadinessRequest& request) {
  std::vector<std::shared_ptr<Dataset>> datasets;
  if (request.dataset) {
    auto dataset = store.Get(*request.dataset);
    if (!dataset.ok()) {
      if (!dataset.status().IsKeyError()) return dataset.status();
      return Json{{"status", "NOT_FOUND"}, {"index_len", 0}, {"pending", 0}};
    }
    datasets.push_back(*dataset);
  } else {
    datasets = store.List();
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(request.wait_seconds);
  IndexProgress progress = ProgressOf(datasets);
  while (!progress.ready && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    progress = ProgressOf(datasets);
  }
  return Json{{"status", progress.ready ? "READY" : "BUSY"},
              {"index_len", progress.indexed},
              {"pending", progress.pending},
              {"index_queue_depth", store.index_queue_depth()}};
}

// On a cluster node without local_only, every member's state (cluster_readiness.h).
arrow::Result<Json> CheckReadiness(VectorStore& store, std::string_view body,
                                   ClusterHooks* cluster) {
  ARROW_ASSIGN_OR_RAISE(ReadinessRequest request, ParseReadinessRequest(body));
  auto local = [&store, &request] { return LocalReadiness(store, request); };
  if (!cluster || request.fan_out.local_only) return local();
  // The members wait for READY as long as this node does.
  request.fan_out.extra_timeout_ms = static_cast<int64_t>(request.wait_seconds * 1000);
  return ClusterReadiness(*cluster, request.keys, request.fan_out, local);
}

// The longest a `snapshot` call may ask to wait for its snapshot.
constexpr double kMaxSnapshotTimeoutSeconds = 86400;

// {"dataset"} and {"timeout": seconds} of `snapshot`, both optional.
struct SnapshotRequest {
  std::optional<std::string> dataset;
  std::optional<double> timeout_seconds;  // unset: wait until done (or the call is cancelled)
};

arrow::Result<SnapshotRequest> ParseSnapshotRequest(std::string_view body, std::string_view type) {
  ARROW_ASSIGN_OR_RAISE(Json keys, ActionBody(body, type, {"dataset", "name", "timeout"}));
  SnapshotRequest request;
  ARROW_ASSIGN_OR_RAISE(request.dataset,
                        GetOptionalString(keys, {"dataset", "name"}, BodyOf(type)));
  ARROW_ASSIGN_OR_RAISE(request.timeout_seconds, GetOptionalNumber(keys, "timeout", BodyOf(type)));
  if (request.timeout_seconds &&
      !(*request.timeout_seconds >= 0 && *request.timeout_seconds <= kMaxSnapshotTimeoutSeconds)) {
    return arrow::Status::Invalid("'timeout' in ", BodyOf(type), " must be seconds in [0, ",
                                  kMaxSnapshotTimeoutSeconds, "], got ", *request.timeout_seconds);
  }
  return request;
}

// Waits for a queued snapshot until it is done, `timeout_seconds` pass (DEADLINE_EXCEEDED) or
// the call is cancelled (CANCELLED); in the two latter cases the snapshot goes on.
Snapshotter::Reports AwaitSnapshot(std::future<Snapshotter::Reports>& done,
                                   std::optional<double> timeout_seconds,
                                   const CallCancelled& call_cancelled) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kPollInterval = std::chrono::milliseconds(50);
  const auto deadline = timeout_seconds
                            ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(*timeout_seconds))
                            : Clock::time_point::max();
  while (true) {
    const auto left = deadline - Clock::now();
    if (done.wait_for(std::min<Clock::duration>(left, kPollInterval)) ==
        std::future_status::ready) {
      return done.get();
    }
    if (Clock::now() >= deadline) {
      return arrow::flight::MakeFlightError(
          arrow::flight::FlightStatusCode::TimedOut,
          fmt::format("the snapshot did not finish within the 'timeout' of {} s; it goes on in "
                      "the background (a later 'snapshot' call waits for it, and 'stats' shows "
                      "the dataset's snapshot_lsn once it is durable)",
                      *timeout_seconds));
    }
    if (call_cancelled && call_cancelled()) {
      return arrow::Status::Cancelled(
          "the call was cancelled; the snapshot goes on in the background");
    }
  }
}

// {"snapshot": [{"dataset", "lsn", "rows", "indexed_rows", "bytes", "seconds"}, ...]}.
arrow::Result<Json> Snapshot(VectorStore& store, std::string_view type, std::string_view body,
                             const CallCancelled& call_cancelled) {
  ARROW_ASSIGN_OR_RAISE(SnapshotRequest request, ParseSnapshotRequest(body, type));
  Snapshotter* snapshotter = store.snapshotter();
  if (!snapshotter) return arrow::Status::NotImplemented("snapshots are off on this server");
  ARROW_ASSIGN_OR_RAISE(auto done, snapshotter->Enqueue(request.dataset));
  ARROW_ASSIGN_OR_RAISE(auto reports, AwaitSnapshot(done, request.timeout_seconds, call_cancelled));
  Json written = Json::array();
  for (const auto& report : reports) written.push_back(SnapshotReportJson(report));
  return Json{{"snapshot", std::move(written)}};
}

arrow::Result<std::shared_ptr<arrow::Buffer>> IpcStream(const arrow::RecordBatch& batch) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, batch.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(batch));
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Finish();
}

// One Result per query vector, each an Arrow IPC stream of that query's search result.
// On a cluster node each query fans out (flight/cluster_search.h); a stream whose members did
// not all answer carries them in its schema metadata.
arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> VectorSearch(VectorStore& store,
                                                                        std::string_view body,
                                                                        ServerMetrics* metrics,
                                                                        ClusterHooks* cluster) {
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, "body of action 'VectorSearch'"));
  ARROW_ASSIGN_OR_RAISE(ParsedSearch search,
                        ParseSearch(keys, /*allow_batch=*/true, "body of action 'VectorSearch'"));
  std::vector<std::shared_ptr<arrow::Buffer>> results;
  for (size_t i = 0; i < search.queries.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto found, SearchQuery(store, cluster, search, i, metrics));
    ARROW_ASSIGN_OR_RAISE(auto stream, IpcStream(*WithMissingNodes(found.batch, found.missing)));
    results.push_back(std::move(stream));
  }
  return results;
}

// [{"id", "score", "distance"}, ...] (distance null when the row was not in the dense list),
// best first: the hybrid search of the body's search keys, which must have a text query. Each
// hit also carries the stored columns named by 'columns' (none by default) and, with
// 'include_vectors', its "vector". On a cluster node the search fans out (cluster_search.h);
// members missing from the result are named in a second Result, {"missing_nodes": [...]}.
arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> HybridSearch(VectorStore& store,
                                                                        std::string_view body,
                                                                        ServerMetrics* metrics,
                                                                        ClusterHooks* cluster) {
  constexpr std::string_view kWhat = "body of action 'HybridSearch'";
  ARROW_ASSIGN_OR_RAISE(Json keys, ParseJsonObject(body, kWhat));
  ARROW_ASSIGN_OR_RAISE(ParsedSearch search, ParseSearch(keys, /*allow_batch=*/false, kWhat));
  SearchRequest& request = search.queries.front();
  if (!request.text_query) {
    return arrow::Status::Invalid("action 'HybridSearch' needs 'text_query' (for a dense search ",
                                  "use the VectorSearch action)");
  }
  if (!request.columns) {  // by default id, score and distance only, on every member
    request.columns.emplace();
    search.keys["columns"] = Json::array();
  }
  ARROW_ASSIGN_OR_RAISE(auto found, SearchQuery(store, cluster, search, 0, metrics));
  const auto& result = found.batch;
  const Json ids = ValuesToJson(*result->column(0));
  const auto& scores = static_cast<const arrow::FloatArray&>(*result->column(1));
  const auto& distances = static_cast<const arrow::FloatArray&>(*result->column(2));
  Json hits = Json::array();
  for (int64_t i = 0; i < result->num_rows(); ++i) {
    Json hit{{"id", ids[static_cast<size_t>(i)]},
             {"score", scores.Value(i)},
             {"distance", distances.IsNull(i) ? Json() : Json(distances.Value(i))}};
    AddColumnsToJson(*result, /*first_column=*/3, i, &hit);
    hits.push_back(std::move(hit));
  }
  std::vector<std::shared_ptr<arrow::Buffer>> replies{JsonBuffer(hits)};
  if (!found.missing.empty()) {
    replies.push_back(JsonBuffer(Json{{"missing_nodes", MissingNodesJson(found.missing)}}));
  }
  return replies;
}

// The cluster's status document, or {"mode": "single"} on a node without cluster flags.
arrow::Result<Json> ClusterStatus(ClusterHooks* cluster, std::string_view body) {
  ARROW_RETURN_NOT_OK(ActionBody(body, "cluster-status", {}).status());
  return cluster ? cluster->Status() : SingleNodeStatus();
}

arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> OneJson(arrow::Result<Json> reply) {
  ARROW_RETURN_NOT_OK(reply.status());
  return std::vector<std::shared_ptr<arrow::Buffer>>{JsonBuffer(*reply)};
}

}  // namespace

std::vector<arrow::flight::ActionType> SupportedActions() {
  std::vector<arrow::flight::ActionType> actions{
      {"VectorSearch",
       "k-NN search. Body: search keys with \"vector\" or \"vectors\" (and \"text_query\", "
       "\"alpha\" for hybrid search); one Arrow IPC stream Result per query."},
      {"HybridSearch",
       "BM25 + vector search fused by reciprocal rank. Body: search keys with \"text_query\" "
       "and optional \"alpha\" (1 dense only, 0 text only, default 0.5, < 0 adaptive). Result: "
       "[{\"id\", \"score\", \"distance\"}, ...], best first."},
      {"VectorSearchByID",
       "k-NN search from a stored row, itself left out. Body: {\"dataset\", \"id\", \"k\"} "
       "(+ \"ef\", \"filters\"). Result: {\"ids\": [...], \"scores\": [...]}."},
      {"delete",
       "Delete rows by id. Body: {\"dataset\", \"id\"} or {\"dataset\", \"ids\": [...]}. "
       "Result: {\"deleted\": rows deleted}. On a cluster node, on every member too, with "
       "\"nodes\" and \"missing_nodes\", unless \"local_only\": true."},
      {"compact",
       "Drop a dataset's deleted rows now (from its rows, index and memory; the rows left are "
       "renumbered). Body: {\"dataset\": name}. Result: {\"dataset\", \"reclaimed_rows\", "
       "\"reclaimed_bytes\", \"rows\", \"seconds\", \"retired_keys\"}."},
      {"check_readiness",
       "Whether indexing has caught up. Body: {\"dataset\": name} or {}, optionally "
       "\"wait\": seconds (or true) to wait for READY. Result: "
       "{\"status\": READY|BUSY|NOT_FOUND, \"index_len\", \"pending\"}; on a cluster node "
       "over every member, with \"nodes\" and \"missing_nodes\", unless \"local_only\": true."},
      {"stats",
       "Dataset statistics. Body: {\"dataset\": name} for one, {} for all; on a cluster node "
       "also summed over the members (\"cluster\"), unless \"local_only\": true."},
      {"cluster-status",
       "The cluster this node belongs to: its members and their addresses, whether etcd is "
       "reachable, this node. A node without cluster flags answers {\"mode\": \"single\"}."},
      {"delete-dataset", "Delete a dataset and all its rows. Body: {\"dataset\": name}."},
      {"shard-fence",
       "Between cluster nodes: pauses, checks or resumes a shard's writes on its primary for a "
       "replica's catch-up (docs/cluster.md)."},
      {"shard-digest",
       "Between cluster nodes: the bucket table (row count and digest per bucket of ids) of this "
       "node's copy of a shard, or its ids in some buckets, for a replica's catch-up "
       "(docs/cluster.md)."},
      {kShardSegmentsAction,
       "Between cluster nodes: the sealed, fully linked segments of this node's copy of a "
       "shard, which a replica's catch-up fetches whole with their graphs (DoGet ticket "
       "{\"shard_segment\": ...}). Body: {\"dataset\"}. Result: {\"dataset\", \"rows\", "
       "\"segments\": [{\"first_row\", \"rows\", \"graph\"}]} (docs/cluster.md)."},
      {kTextStatsAction,
       "Between cluster nodes: a dataset's BM25 statistics for a query's terms, the first "
       "phase of a cluster-wide hybrid search. Body: {\"dataset\", \"text_query\"}. Result: "
       "{\"docs\", \"total_length\", \"doc_freq\": {term: documents}} (docs/cluster.md)."},
      {"snapshot",
       "Write a snapshot of one dataset ({\"dataset\": name}) or of all ({}), so that a restart "
       "loads it instead of replaying the log; \"timeout\": seconds bounds the wait (then "
       "DEADLINE_EXCEEDED, the snapshot going on). Alias: ForceSnapshot. Result: "
       "{\"snapshot\": [{\"dataset\", \"lsn\", \"rows\", \"indexed_rows\", \"bytes\", "
       "\"seconds\"}]}."},
  };
  for (auto more : {NamespaceActionTypes(), GraphActionTypes()}) {
    actions.insert(actions.end(), more.begin(), more.end());
  }
  return actions;
}

arrow::Result<std::vector<std::shared_ptr<arrow::Buffer>>> RunAction(
    VectorStore& store, std::string_view type, std::string_view body, ServerMetrics* metrics,
    const CallCancelled& call_cancelled, ClusterHooks* cluster, const std::string& caller_token) {
  if (type == "VectorSearch") return VectorSearch(store, body, metrics, cluster);
  if (type == "cluster-status") return OneJson(ClusterStatus(cluster, body));
  if (type == "HybridSearch") return HybridSearch(store, body, metrics, cluster);
  if (type == "VectorSearchByID") {
    return OneJson(VectorSearchById(store, body, cluster, metrics));
  }
  if (type == "delete") return OneJson(Delete(store, body, cluster, caller_token));
  if (type == "compact") return OneJson(Compact(store, body));
  if (type == "check_readiness") return OneJson(CheckReadiness(store, body, cluster));
  if (type == "stats") return OneJson(Stats(store, body, cluster));
  if (type == "delete-dataset") return OneJson(DeleteDataset(store, body));
  if (type == kTextStatsAction) return OneJson(TextStatsAction(store, body));
  if (type == kShardSegmentsAction) return OneJson(ShardSegmentsAction(store, body));
  if (type == "snapshot" || type == "ForceSnapshot") {
    return OneJson(Snapshot(store, type, body, call_cancelled));
  }
  if (auto reply = RunNamespaceAction(store, type, body)) return std::move(*reply);
  if (auto reply = RunGraphAction(store, type, body, metrics)) return std::move(*reply);
  if (cluster) {
    if (auto reply = cluster->InternalAction(type, body)) return OneJson(std::move(*reply));
  }
  std::string known;
  for (const auto& action : SupportedActions()) known += (known.empty() ? "" : ", ") + action.type;
  return arrow::Status::NotImplemented("unknown action '", type, "' (this server knows: ", known,
                                       ")");
}

Json SnapshotReportJson(const SnapshotReport& report) {
  return {{"dataset", report.dataset},
          {"lsn", report.lsn},
          {"rows", report.rows},
          {"deleted_rows", report.deleted_rows},
          {"indexed_rows", report.indexed_rows},
          {"bytes", report.bytes},
          {"seconds", report.seconds}};
}

}  // namespace arbalest
