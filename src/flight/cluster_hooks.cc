#include "flight/cluster_hooks.h"

#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

namespace arbalest {

Json MissingNodesJson(const std::vector<MissingNode>& missing) {
  Json nodes = Json::array();
  for (const auto& node : missing) {
    Json entry{{"node", node.node}, {"reason", node.reason}};
    if (node.shard >= 0) entry["shard"] = node.shard;
    nodes.push_back(std::move(entry));
  }
  return nodes;
}

Json MissingShardsJson(const std::vector<MissingNode>& missing) {
  Json shards = Json::array();
  for (const auto& node : missing) {
    if (node.shard >= 0) {
      shards.push_back({{"shard", node.shard}, {"node", node.node}, {"reason", node.reason}});
    }
  }
  return shards;
}

void SetMissing(Json& answer, const std::vector<MissingNode>& missing) {
  answer["missing_nodes"] = MissingNodesJson(missing);
  if (Json shards = MissingShardsJson(missing); !shards.empty()) {
    answer["missing_shards"] = std::move(shards);
  }
}

std::shared_ptr<arrow::Schema> SchemaWithMissingNodes(std::shared_ptr<arrow::Schema> schema,
                                                      const std::vector<MissingNode>& missing) {
  if (missing.empty()) return schema;
  auto metadata =
      schema->metadata() ? schema->metadata()->Copy() : std::make_shared<arrow::KeyValueMetadata>();
  metadata->Append(kMissingNodesMetadataKey, MissingNodesJson(missing).dump());
  if (Json shards = MissingShardsJson(missing); !shards.empty()) {
    metadata->Append(kMissingShardsMetadataKey, shards.dump());
  }
  return schema->WithMetadata(std::move(metadata));
}

std::shared_ptr<arrow::RecordBatch> WithMissingNodes(std::shared_ptr<arrow::RecordBatch> batch,
                                                     const std::vector<MissingNode>& missing) {
  if (missing.empty()) return batch;
  return batch->ReplaceSchemaMetadata(SchemaWithMissingNodes(batch->schema(), missing)->metadata());
}

Json SingleNodeStatus() {
  return Json{{"mode", "single"}, {"state", "ok"}, {"degraded", false}, {"members", Json::array()}};
}

arrow::Result<FanOutOptions> ParseFanOutOptions(const Json& keys, std::string_view what) {
  FanOutOptions options;
  for (auto [key, value] : {std::pair{"local_only", &options.local_only},
                            std::pair{"require_all", &options.require_all}}) {
    auto it = keys.find(key);
    if (it == keys.end()) continue;
    if (!it->is_boolean()) {
      return arrow::Status::Invalid("'", key, "' in ", what, " must be true or false, got ",
                                    JsonForMessage(*it));
    }
    *value = it->get<bool>();
  }
  ARROW_ASSIGN_OR_RAISE(options.timeout_ms, GetOptionalInt(keys, "timeout_ms", what));
  if (options.timeout_ms && (*options.timeout_ms < 1 || *options.timeout_ms > 600000)) {
    return arrow::Status::Invalid("'timeout_ms' in ", what,
                                  " must be milliseconds in [1, 600000], got ",
                                  *options.timeout_ms);
  }
  return options;
}

}  // namespace arbalest
