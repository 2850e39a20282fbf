// Long-lived, pipelined put streams between cluster nodes (docs/cluster.md, "Routed puts";
// docs/protocol.md, "Shard put streams"): the slices of routed puts (router -> primary) and
// of their replication (primary -> replicas) travel on DoPut streams that live across batches
// and client puts, instead of one Flight DoPut per slice.
//   - A stream is a DoPut whose CMD descriptor is {"shard_put_stream": {"dataset": name}}, its
//     schema the slices' schema. Its calls carry the cluster token and the client's forwarded
//     token like a one-shot shard put's, and the receiving node checks both once, when the
//     stream opens; so a stream serves one (peer, dataset, client token, schema) only: the
//     pool's key. One client's permission is never used for another's slices.
//   - Each slice is one batch whose app_metadata is ShardPutHop::FieldsJson() plus "seq", its
//     number on the stream. The peer answers each with one PutResult: {"seq", "ack"} or
//     {"seq", "error": {"code", "flight_code", "message"}}: a refused slice (a stale epoch, a
//     bad batch) fails that slice only, the stream goes on. Answers come in any order.
//   - Several slices may be outstanding on a stream: a writer thread sends them in order, a
//     reader thread matches the answers to the waiting slices. Each slice waits at most its
//     timeout (then TIMED_OUT, and the stream takes no more slices). A stream that breaks
//     (peer gone, call failed) fails its outstanding slices with its error; the next slice
//     opens a new one.
//   - Streams idle for `idle` are closed, as are streams to addresses that are no longer
//     members (or drain: a leaving node's server waits for its incoming calls to end) and
//     streams older than `max_age`, once their slices are answered (so that a revoked token's
//     stream ends too); a stream's call has a deadline past that age.
// Per client put, order is the caller's: a router sends the next batch's slices once the
// previous batch's are answered.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/peer_clients.h"
#include "cluster/shard_put_hop.h"
#include "common/json_util.h"
#include "common/mutex.h"
#include "common/periodic_thread.h"

namespace arbalest {

class ClusterMetrics;
class PutStream;

inline constexpr const char* kPutStreamKey = "shard_put_stream";

// {"shard_put_stream": {"dataset": dataset}}: a put stream's CMD descriptor.
std::string PutStreamCommand(const std::string& dataset);
// The dataset of a put stream's CMD descriptor; nullopt when the command is not one. Invalid
// for a put stream whose dataset is missing.
arrow::Result<std::optional<std::string>> ParsePutStreamCommand(const std::string& command);

// A slice's answer on a put stream: {"seq", "ack"} when `result` is ok, else {"seq", "error":
// {"code" (arrow::StatusCode), "flight_code" (when a Flight status), "message"}}.
Json SliceAnswerJson(int64_t seq, const arrow::Result<Json>& result);
// The sequence number and result of an answer (the error rebuilt with its codes). Invalid when
// `answer` is not one.
arrow::Result<std::pair<int64_t, arrow::Result<Json>>> ParseSliceAnswer(const Json& answer);

struct PutStreamOptions {
  std::chrono::milliseconds idle{10000};     // closed after this long without a slice
  std::chrono::milliseconds max_age{60000};  // no new slice after this long
  std::chrono::milliseconds sweep{1000};     // how often idle and gone streams are closed
  int64_t max_outstanding = 64;              // another stream for the same key opens beyond this
  int64_t max_streams_per_key = 4;
  // How long closing streams waits for their peers to end the calls before it cancels them (a
  // hung peer: stopped, not dead, never ends it).
  std::chrono::milliseconds close_wait{1000};
};

// What the pool did, for cluster-status (and the metrics).
struct PutStreamCounts {
  int64_t open = 0;
  int64_t opened = 0;     // since start
  int64_t slices = 0;     // sent on streams since start
  int64_t broken = 0;     // streams that failed (their slices failed with their error)
  int64_t cancelled = 0;  // streams whose peer did not end the call when closed (hung)
};

// Thread-safe.
class PutStreams {
 public:
  // `live`: the addresses that streams may stay open to (the live members that are not
  // draining; streams to others are closed once no slice waits on them); `metrics` may be
  // null.
  PutStreams(PeerClients& peers, std::function<std::vector<std::string>()> live,
             ClusterMetrics* metrics, PutStreamOptions options = {});
  ~PutStreams();  // closes every stream
  PutStreams(const PutStreams&) = delete;
  PutStreams& operator=(const PutStreams&) = delete;

  // Sends `batch` (not null) as a slice with `hop` to the node at `address`, on a stream for
  // (address, hop.dataset, `forwarded_token`, the batch's schema), opened when none is usable;
  // the peer's ack, within `timeout`. The error of the peer for this slice, or of the stream
  // (UNAVAILABLE when it broke or the peer ended it first; TIMED_OUT after `timeout`).
  arrow::Result<Json> Send(const std::string& address, const ShardPutHop& hop,
                           const std::shared_ptr<arrow::RecordBatch>& batch,
                           std::chrono::milliseconds timeout, const std::string& forwarded_token);

  // Whether the node at `address` takes put streams: false for a while (max_age) after it
  // refused one as a node older than put streams refuses their descriptor (nothing stored);
  // its slices go as one-shot shard puts meanwhile.
  bool Serves(const std::string& address) const;

  PutStreamCounts counts() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string>;

  // A usable stream for `key` (the least loaded), or a new one.
  arrow::Result<std::shared_ptr<PutStream>> Acquire(const Key& key, const std::string& address,
                                                    const std::string& dataset,
                                                    const std::shared_ptr<arrow::Schema>& schema,
                                                    std::chrono::milliseconds timeout,
                                                    const std::string& forwarded_token);
  // Closes the streams that are broken, idle, too old or to addresses not live.
  void Sweep();
  // Closes `streams`, waiting at most close_wait for them all.
  void CloseAll(const std::vector<std::shared_ptr<PutStream>>& streams);

  PeerClients& peers_;
  const std::function<std::vector<std::string>()> live_;
  ClusterMetrics* const metrics_;
  const PutStreamOptions options_;
  mutable Mutex mutex_;
  std::map<Key, std::vector<std::shared_ptr<PutStream>>> streams_ GUARDED_BY(mutex_);
  // The nodes that refused put streams, until when their slices go one-shot.
  std::map<std::string, std::chrono::steady_clock::time_point> one_shot_until_ GUARDED_BY(mutex_);
  std::atomic<int64_t> opened_{0};
  std::atomic<int64_t> slices_{0};
  std::atomic<int64_t> broken_{0};
  std::atomic<int64_t> cancelled_{0};
  PeriodicThread sweeper_;  // Sweep every options_.sweep
};

}  // namespace arbalest
