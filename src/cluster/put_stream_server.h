// The receiving side of a put stream (put_streams.h): the slices a peer sends on one DoPut,
// each checked and stored as a one-shot shard put with its hop would be (PutShardSlice: the
// epoch checked against the shard map, the shard's fence entered for the slice alone, the rows
// stored and, on the primary, replicated), and answered with its sequence number. Slices are
// handled several at once (the sender keeps each client put's batches in order: it sends a
// batch's slices once the previous batch's are answered), at most kMaxSlicesInFlight per
// stream; a refused slice is answered with its error and the stream goes on.
#pragma once

#include <arrow/flight/server.h>
#include <arrow/status.h>

#include <cstdint>
#include <string>

#include "cluster/shard_puts.h"

namespace arbalest {

inline constexpr int64_t kMaxSlicesInFlight = 64;

// Serves the put stream for `dataset` on `reader` and `writer` until the sender ends it (every
// slice read is answered first). Invalid when a batch carries no app_metadata with an integer
// "seq" (the stream ends: no answer could name it); the error of the stream when it fails.
arrow::Status ServeShardPutStream(const ShardEnv& env, const std::string& dataset,
                                  arrow::flight::FlightMessageReader& reader,
                                  arrow::flight::FlightMetadataWriter& writer,
                                  const LocalPuts& local);

}  // namespace arbalest
