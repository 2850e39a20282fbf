#include "cluster/put_streams.h"

#include <arrow/flight/types.h>
#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

#include "cluster/cluster_metrics.h"
#include "cluster/fan_out_util.h"
#include "cluster/put_stream.h"
#include "flight/call_credentials.h"

namespace arbalest {

namespace fl = arrow::flight;

std::string PutStreamCommand(const std::string& dataset) {
  return Json{{kPutStreamKey, {{"dataset", dataset}}}}.dump();
}

arrow::Result<std::optional<std::string>> ParsePutStreamCommand(const std::string& command) {
  auto json = ParseJson(command, "descriptor");
  if (!json.ok() || !json->is_object() || !json->contains(kPutStreamKey)) return std::nullopt;
  const Json& body = (*json)[kPutStreamKey];
  if (!body.is_object() || !body.contains("dataset") || !body["dataset"].is_string()) {
    return arrow::Status::Invalid("a shard put stream needs its dataset: ", JsonForMessage(body));
  }
  return body["dataset"].get<std::string>();
}

Json SliceAnswerJson(int64_t seq, const arrow::Result<Json>& result) {
  if (result.ok()) return {{"seq", seq}, {"ack", *result}};
  const arrow::Status& status = result.status();
  Json error{{"code", static_cast<int>(status.code())}, {"message", status.message()}};
  if (auto detail = fl::FlightStatusDetail::UnwrapStatus(status)) {
    error["flight_code"] = static_cast<int>(detail->code());
  }
  return {{"seq", seq}, {"error", std::move(error)}};
}

arrow::Result<std::pair<int64_t, arrow::Result<Json>>> ParseSliceAnswer(const Json& answer) {
  if (!answer.is_object() || !answer.contains("seq") || !answer["seq"].is_number_integer()) {
    return arrow::Status::Invalid("no integer 'seq' in ", JsonForMessage(answer));
  }
  const int64_t seq = answer["seq"].get<int64_t>();
  if (answer.contains("ack")) return std::pair{seq, arrow::Result<Json>(answer["ack"])};
  const auto error = answer.find("error");
  if (error == answer.end() || !error->is_object() || !error->contains("code") ||
      !(*error)["code"].is_number_integer() || !error->contains("message") ||
      !(*error)["message"].is_string()) {
    return arrow::Status::Invalid("neither 'ack' nor 'error' {code, message} in ",
                                  JsonForMessage(answer));
  }
  const int code = (*error)["code"].get<int>();
  const std::string message = (*error)["message"].get<std::string>();
  if (code == 0) return arrow::Status::Invalid("an error answer with code 0");
  arrow::Status status(static_cast<arrow::StatusCode>(code), message);
  if (auto flight = error->find("flight_code"); flight != error->end() && flight->is_number()) {
    status = fl::MakeFlightError(static_cast<fl::FlightStatusCode>(flight->get<int>()), message);
  }
  return std::pair{seq, arrow::Result<Json>(std::move(status))};
}

namespace {

// Whether a put stream was refused by a node older than put streams, before it read a batch:
// its DoPut takes a CMD descriptor it does not know for a put to a dataset and refuses it as
// not a PATH; with --auth-tokens, its authorization refuses the forwarded client token on a
// call it does not know as a shard put.
bool RefusedAsUnknown(const arrow::Status& status) {
  const std::string& message = status.message();
  return (status.IsInvalid() && message.find("descriptor must be a PATH") != std::string::npos &&
          message.find(kPutStreamKey) != std::string::npos) ||
         message.find("only on shard puts and local_only deletes") != std::string::npos;
}

}  // namespace

bool PutStreams::Serves(const std::string& address) const {
  MutexLock lock(&mutex_);
  const auto it = one_shot_until_.find(address);
  return it == one_shot_until_.end() || PutStream::Clock::now() >= it->second;
}

PutStreams::PutStreams(PeerClients& peers, std::function<std::vector<std::string>()> live,
                       ClusterMetrics* metrics, PutStreamOptions options)
    : peers_(peers),
      live_(std::move(live)),
      metrics_(metrics),
      options_(options),
      sweeper_("arb-put-sweep", options_.sweep) {
  sweeper_.Start([this] { Sweep(); });
}

PutStreams::~PutStreams() {
  // The sweeper first: once it has stopped, no stream is closed but by this destructor.
  sweeper_.Stop();
  std::map<Key, std::vector<std::shared_ptr<PutStream>>> streams;
  {
    MutexLock lock(&mutex_);
    streams.swap(streams_);
  }
  std::vector<std::shared_ptr<PutStream>> closing;
  for (auto& [key, list] : streams) closing.insert(closing.end(), list.begin(), list.end());
  CloseAll(closing);
}

arrow::Result<Json> PutStreams::Send(const std::string& address, const ShardPutHop& hop,
                                     const std::shared_ptr<arrow::RecordBatch>& batch,
                                     std::chrono::milliseconds timeout,
                                     const std::string& forwarded_token) {
  const Key key{address, hop.dataset, forwarded_token, batch->schema()->ToString(true)};
  for (int attempt = 0;; ++attempt) {
    auto stream = Acquire(key, address, hop.dataset, batch->schema(), timeout, forwarded_token);
    if (!stream.ok()) {
      if (PeerUnreachable(stream.status())) peers_.Drop(address);
      return stream.status();
    }
    std::optional<arrow::Result<Json>> answer = (*stream)->Send(hop, batch, timeout);
    if (!answer) {
      // A node older than put streams may have refused the stream before the slice went.
      if (arrow::Status end = (*stream)->end_status(); RefusedAsUnknown(end)) answer = end;
    }
    if (!answer && attempt < 2) continue;  // it ended meanwhile, the slice unsent: another one
    if (!answer) {
      return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                 "no put stream to " + address + " took the slice");
    }
    if (!answer->ok() && RefusedAsUnknown(answer->status())) {
      MutexLock lock(&mutex_);
      one_shot_until_[address] = PutStream::Clock::now() + options_.max_age;
      return std::move(*answer);
    }
    slices_.fetch_add(1);
    if (metrics_) metrics_->PutStreamSlice();
    if (!answer->ok() && PeerUnreachable(answer->status())) peers_.Drop(address);
    return std::move(*answer);
  }
}

arrow::Result<std::shared_ptr<PutStream>> PutStreams::Acquire(
    const Key& key, const std::string& address, const std::string& dataset,
    const std::shared_ptr<arrow::Schema>& schema, std::chrono::milliseconds timeout,
    const std::string& forwarded_token) {
  const auto now = PutStream::Clock::now();
  MutexLock lock(&mutex_);
  auto& list = streams_[key];
  std::shared_ptr<PutStream> best;
  int64_t usable = 0;
  for (const auto& stream : list) {
    if (!stream->Usable(now, options_.max_age)) continue;
    ++usable;
    if (!best || stream->outstanding() < best->outstanding()) best = stream;
  }
  if (best &&
      (best->outstanding() < options_.max_outstanding || usable >= options_.max_streams_per_key)) {
    return best;
  }
  // Opened under the lock, so that concurrent slices share one stream: starting a call does
  // not wait for the peer.
  ARROW_ASSIGN_OR_RAISE(auto transport, peers_.Transport(address));
  // The call outlives every slice it may take: a slice waits at most `timeout` once sent.
  fl::FlightCallOptions call = peers_.CallOptions(options_.max_age + 2 * timeout);
  ForwardToken(&call, forwarded_token);
  ARROW_ASSIGN_OR_RAISE(
      std::shared_ptr<PutStream> opened,
      PutStream::Open(transport, call, PutStreamCommand(dataset), schema, address));
  list.push_back(opened);
  opened_.fetch_add(1);
  if (metrics_) metrics_->PutStreamOpened();
  return opened;
}

void PutStreams::Sweep() {
  const std::vector<std::string> live_list = live_ ? live_() : std::vector<std::string>{};
  const std::set<std::string> live(live_list.begin(), live_list.end());
  const auto now = PutStream::Clock::now();
  std::vector<std::shared_ptr<PutStream>> closing;
  int64_t open = 0;
  {
    MutexLock lock(&mutex_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      const bool gone = live_ && !live.contains(std::get<0>(it->first));
      auto& list = it->second;
      std::erase_if(list, [&](const std::shared_ptr<PutStream>& stream) {
        const bool idle = stream->outstanding() == 0;
        const bool retire = stream->broken() || !stream->Usable(now, options_.max_age) ||
                            now - stream->last_used() > options_.idle || gone;
        if (!retire || !idle) return false;
        closing.push_back(stream);
        return true;
      });
      open += static_cast<int64_t>(list.size());
      it = list.empty() ? streams_.erase(it) : std::next(it);
    }
  }
  for (const auto& stream : closing) {
    if (stream->broken()) {
      broken_.fetch_add(1);
      if (metrics_) metrics_->PutStreamBroken();
    }
  }
  CloseAll(closing);
  if (metrics_) metrics_->SetPutStreamsOpen(open);
}

void PutStreams::CloseAll(const std::vector<std::shared_ptr<PutStream>>& streams) {
  // All at once: one wait for every peer, however many are hung.
  for (const auto& stream : streams) stream->StartClose();
  const auto deadline = PutStream::Clock::now() + options_.close_wait;
  for (const auto& stream : streams) {
    stream->FinishClose(deadline);
    if (stream->cancelled()) {
      cancelled_.fetch_add(1);
      if (metrics_) metrics_->PutStreamCancelled();
      spdlog::warn("put stream to {} cancelled: its peer did not end the call within {} ms",
                   stream->address(), options_.close_wait.count());
    }
  }
}

PutStreamCounts PutStreams::counts() const {
  PutStreamCounts counts;
  {
    MutexLock lock(&mutex_);
    for (const auto& [key, list] : streams_) counts.open += static_cast<int64_t>(list.size());
  }
  counts.opened = opened_.load();
  counts.slices = slices_.load();
  counts.broken = broken_.load();
  counts.cancelled = cancelled_.load();
  return counts;
}

}  // namespace arbalest
