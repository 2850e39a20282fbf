#include "cluster/shard_put_hop.h"

#include <arrow/status.h>

namespace arbalest {

Json ShardPutHop::FieldsJson() const {
  return {{"shard", shard},
          {"epoch", epoch},
          {"role", primary ? "primary" : "replica"},
          {"write_quorum", write_quorum}};
}

Json ShardPutHop::ToJson() const {
  Json body = FieldsJson();
  body["dataset"] = dataset;
  return {{"shard_put", std::move(body)}};
}

arrow::Result<ShardPutHop> ParseShardPutFields(const std::string& dataset, const Json& body) {
  if (!body.is_object() || !body.contains("shard") || !body["shard"].is_number_integer() ||
      !body.contains("epoch") || !body["epoch"].is_number_integer()) {
    return arrow::Status::Invalid("a shard put needs dataset, shard and epoch: ",
                                  JsonForMessage(body));
  }
  const auto role = body.find("role");
  if (role != body.end() && (!role->is_string() || (*role != "primary" && *role != "replica"))) {
    return arrow::Status::Invalid("a shard put's role must be \"primary\" or \"replica\", got ",
                                  JsonForMessage(*role));
  }
  const auto quorum = body.find("write_quorum");
  if (quorum != body.end() && !quorum->is_number_integer()) {
    return arrow::Status::Invalid("a shard put's write_quorum must be an integer, got ",
                                  JsonForMessage(*quorum));
  }
  ShardPutHop hop;
  hop.dataset = dataset;
  hop.shard = body["shard"].get<int32_t>();
  hop.epoch = body["epoch"].get<int64_t>();
  hop.primary = role != body.end() && *role == "primary";
  hop.write_quorum = quorum != body.end() ? quorum->get<int32_t>() : 0;
  return hop;
}

arrow::Result<std::optional<ShardPutHop>> ParseShardPutHop(const std::string& command) {
  auto json = ParseJson(command, "descriptor");
  if (!json.ok() || !json->is_object() || !json->contains("shard_put")) return std::nullopt;
  const Json& body = (*json)["shard_put"];
  if (!body.is_object() || !body.contains("dataset") || !body["dataset"].is_string()) {
    return arrow::Status::Invalid("a shard put needs dataset, shard and epoch: ",
                                  JsonForMessage(body));
  }
  return ParseShardPutFields(body["dataset"].get<std::string>(), body);
}

}  // namespace arbalest
