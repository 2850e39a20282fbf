// ClusterNode's hybrid search with global BM25 statistics (docs/cluster.md, "Hybrid search"):
// a search with a text query asks every shard (one replica each, as any search does) or, for an
// unsharded dataset, every member for its BM25 statistics of the query's terms (`text-stats`),
// sums them, and sends the sums with the search hops (`text_stats`): each shard then scores
// BM25 with the global N, avgdl and document frequencies and returns its unfused candidates,
// which FuseCandidates (hybrid_merge.h) ranks and fuses as one node holding every row would.
#include <arrow/table.h>

#include "cluster/cluster_node.h"
#include "cluster/fan_out_util.h"
#include "cluster/hybrid_merge.h"
#include "flight/text_stats.h"

namespace arbalest {
namespace {

// Whether `missing` already names the part that `entry` names (the same shard, or for an
// unsharded dataset the same member).
bool Names(const std::vector<MissingNode>& missing, const MissingNode& entry) {
  for (const MissingNode& known : missing) {
    if (entry.shard >= 0 ? known.shard == entry.shard : known.node == entry.node) return true;
  }
  return false;
}

}  // namespace

std::optional<LocalReads> ClusterNode::OwnReads() const {
  MutexLock lock(&mutex_);
  return local_reads_;
}

arrow::Result<ClusterSearchResult> ClusterNode::HybridSearch(const Json& keys, int64_t k,
                                                             const HybridFusion& hybrid,
                                                             const FanOutOptions& options) {
  const std::optional<LocalReads> own = OwnReads();
  if (!own) return arrow::Status::Invalid("this node's Flight service is not attached yet");
  // Both phases name the dataset by "dataset", so that both find its shard map.
  Json hop = keys;
  if (!hop.contains("dataset")) hop["dataset"] = keys.value("name", Json());
  hop.erase("name");
  const Json& dataset = hop["dataset"];

  // Phase 1: the statistics of every shard (or member), summed.
  const Json stats_body{{"dataset", dataset}, {"text_query", hybrid.text_query}};
  ARROW_ASSIGN_OR_RAISE(ClusterActionResult stats,
                        Action(kTextStatsAction, stats_body, options, [&]() -> arrow::Result<Json> {
                          return own->action(kTextStatsAction, HopKeys(stats_body).dump());
                        }));
  Bm25Stats global;
  for (const NodeAnswer& answer : stats.answers) {
    ARROW_ASSIGN_OR_RAISE(
        Bm25Stats part,
        Bm25StatsFromJson(answer.answer, "the 'text-stats' answer of " + answer.node));
    global.Add(part);
  }

  // Phase 2: the candidates of every shard (or member), scored with the sums, fused here.
  hop["text_stats"] = Bm25StatsToJson(global);
  const std::string own_ticket = Json{{"search", HopKeys(hop)}}.dump();
  ClusterSearchResult result;
  ARROW_ASSIGN_OR_RAISE(auto parts,
                        SearchParts(
                            hop, options,
                            [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
                              ARROW_ASSIGN_OR_RAISE(auto reader, own->get(own_ticket));
                              ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
                              return table->CombineChunksToBatch();
                            },
                            &result.missing));
  for (MissingNode& entry : stats.missing) {
    if (Names(result.missing, entry)) continue;
    entry.reason = "BM25 statistics: " + entry.reason;
    result.missing.push_back(std::move(entry));
  }
  ARROW_ASSIGN_OR_RAISE(result.batch, FuseCandidates(parts, k, hybrid.alpha, hybrid.depth));
  return result;
}

}  // namespace arbalest
