// What a shard put between nodes carries (docs/protocol.md, "Shard puts"): the shard, the shard
// map's epoch the sender read, the receiver's role and the write quorum. A one-shot shard put
// sends it as JSON in a CMD descriptor ({"shard_put": {...}}); a slice on a put stream
// (put_streams.h) in its batch's app_metadata, with the slice's sequence number.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/json_util.h"

namespace arbalest {

struct ShardPutHop {
  std::string dataset;
  int32_t shard = 0;
  int64_t epoch = 0;
  bool primary = false;  // the primary stores and replicates; a replica stores
  int32_t write_quorum = 0;

  // {"shard_put": {"dataset", "shard", "epoch", "role", "write_quorum"}}: a CMD descriptor.
  Json ToJson() const;
  // {"shard", "epoch", "role", "write_quorum"}: the fields a slice on a put stream carries
  // (the stream names the dataset).
  Json FieldsJson() const;
};

// The hop of a CMD descriptor, or nullopt when the command is not a shard put. Invalid for a
// shard put whose fields are wrong.
arrow::Result<std::optional<ShardPutHop>> ParseShardPutHop(const std::string& command);

// The hop of `body` (FieldsJson's form) for dataset `dataset`. Invalid naming what is wrong.
arrow::Result<ShardPutHop> ParseShardPutFields(const std::string& dataset, const Json& body);

}  // namespace arbalest
