#include "cluster/put_stream_server.h"

#include <arrow/buffer.h>

#include <deque>
#include <future>

#include "cluster/put_streams.h"
#include "common/mutex.h"
#include "flight/ingest_stream.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

// The answers of one stream: written by the slices' threads, one at a time.
class Answers {
 public:
  explicit Answers(fl::FlightMetadataWriter& writer) : writer_(&writer) {}

  void Write(int64_t seq, const arrow::Result<Json>& result) {
    MutexLock lock(&mutex_);
    // A failed write means the sender is gone: its reader sees the stream end.
    ARROW_UNUSED(writer_->WriteMetadata(*JsonBuffer(SliceAnswerJson(seq, result))));
  }

 private:
  Mutex mutex_;
  fl::FlightMetadataWriter* const writer_ PT_GUARDED_BY(mutex_);
};

// The sequence number and hop of a slice's app_metadata.
arrow::Result<int64_t> SliceSeq(const std::shared_ptr<arrow::Buffer>& metadata, Json* body) {
  if (!metadata) {
    return arrow::Status::Invalid(
        "a batch on a shard put stream needs app_metadata {seq, shard, epoch, role}");
  }
  ARROW_ASSIGN_OR_RAISE(*body, ParseJson(metadata->ToString(), "a put stream slice's metadata"));
  if (!body->is_object() || !body->contains("seq") || !(*body)["seq"].is_number_integer()) {
    return arrow::Status::Invalid("a batch on a shard put stream needs an integer 'seq' in its ",
                                  "app_metadata, got ", JsonForMessage(*body));
  }
  return (*body)["seq"].get<int64_t>();
}

}  // namespace

arrow::Status ServeShardPutStream(const ShardEnv& env, const std::string& dataset,
                                  fl::FlightMessageReader& reader, fl::FlightMetadataWriter& writer,
                                  const LocalPuts& local) {
  Answers answers(writer);
  std::deque<std::future<void>> running;
  arrow::Status ended;
  while (true) {
    auto chunk = reader.Next();
    if (!chunk.ok()) {
      ended = chunk.status();
      break;
    }
    if (!chunk->data) {
      if (chunk->app_metadata) continue;  // metadata-only message: nothing to store
      break;
    }
    Json body;
    auto seq = SliceSeq(chunk->app_metadata, &body);
    if (!seq.ok()) {
      ended = seq.status();
      break;
    }
    auto hop = ParseShardPutFields(dataset, body);
    if (!hop.ok()) {
      answers.Write(*seq, hop.status());
      continue;
    }
    while (!running.empty() &&
           (running.size() >= static_cast<size_t>(kMaxSlicesInFlight) ||
            running.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
      running.front().get();
      running.pop_front();
    }
    running.push_back(env.threads->Submit([&env, &local, &answers, hop = std::move(*hop),
                                           seq = *seq, batch = std::move(chunk->data)] {
      auto result = PutShardSlice(env, hop, batch->schema(), batch, local);
      answers.Write(seq, result.ok() ? result : ForClient(result.status()));
    }));
  }
  for (auto& slice : running) slice.get();
  return ended;
}

}  // namespace arbalest
