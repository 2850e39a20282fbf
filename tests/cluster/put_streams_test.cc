// The put streams between nodes (put_streams.h) against a real Flight server that answers
// slices as a peer would: slices share one stream, answers are matched by sequence number in
// any order, a refused slice fails alone, a slice left unanswered times out and the next one
// gets a fresh stream, a server that goes away fails the waiting slice as unreachable. And the
// protocol's parsing: answers, descriptors, hops.
#include "cluster/put_streams.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "cluster/fan_out_util.h"
#include "common/mutex.h"

namespace arbalest {
namespace {

namespace fl = arrow::flight;

constexpr int32_t kRefusedShard = 7;  // answered with a stale epoch error
constexpr int32_t kLateShard = 8;     // answered after the next slice's answer
constexpr int32_t kSilentShard = 9;   // never answered

// Answers each slice with {"rows", "shard"} (its hop's shard), or as the shards above say.
class SliceServer : public fl::FlightServerBase {
 public:
  arrow::Status DoPut(const fl::ServerCallContext&, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    if (old_version_) {  // what a node older than put streams answers
      return arrow::Status::Invalid(
          "the descriptor must be a PATH with one element, the dataset name "
          "(FlightDescriptor.for_path(name)); got ",
          reader->descriptor().ToString());
    }
    auto command = ParsePutStreamCommand(reader->descriptor().cmd);
    if (!command.ok() || !*command) return arrow::Status::Invalid("not a put stream");
    streams_.fetch_add(1);
    if (hang_) {
      // A hung peer (stopped, not dead): it neither reads nor answers nor ends the call.
      hung_.fetch_add(1);
      released_.wait();
      return arrow::Status::OK();
    }
    std::optional<Json> late;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader->Next());
      if (!chunk.data) break;
      ARROW_ASSIGN_OR_RAISE(Json hop, ParseJson(chunk.app_metadata->ToString(), "hop"));
      slices_.fetch_add(1);
      const int64_t seq = hop["seq"].get<int64_t>();
      const int32_t shard = hop["shard"].get<int32_t>();
      if (shard == kSilentShard) continue;
      Json answer = SliceAnswerJson(seq, Json{{"rows", chunk.data->num_rows()}, {"shard", shard}});
      if (shard == kRefusedShard) {
        answer = SliceAnswerJson(seq, arrow::Status::Invalid("stale epoch 1 for shard 7"));
      }
      if (shard == kLateShard) {
        late = answer;
        continue;
      }
      ARROW_RETURN_NOT_OK(writer->WriteMetadata(*JsonBuffer(answer)));
      if (late) ARROW_RETURN_NOT_OK(writer->WriteMetadata(*JsonBuffer(*late)));
      late.reset();
    }
    // The client is done writing: its stream is being closed.
    done_writing_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
    std::this_thread::sleep_for(std::chrono::milliseconds(finish_delay_ms_.load()));
    return arrow::Status::OK();
  }

  std::atomic<int64_t> streams_{0};
  std::atomic<int64_t> slices_{0};
  std::atomic<bool> old_version_{false};
  std::atomic<bool> hang_{false};
  std::atomic<int64_t> hung_{0};
  std::promise<void> release_;  // ends the hung calls
  std::shared_future<void> released_ = release_.get_future().share();
  std::atomic<int64_t> finish_delay_ms_{0};  // how long the call takes to end once done writing
  std::atomic<int64_t> done_writing_at_{0};  // steady_clock ticks
};

class PutStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Start().ok());
    schema_ = arrow::schema({arrow::field("id", arrow::int64())});
    arrow::Int64Builder ids;
    ASSERT_TRUE(ids.AppendValues({1, 2, 3}).ok());
    batch_ = arrow::RecordBatch::Make(schema_, 3, {*ids.Finish()});
  }
  void TearDown() override {
    if (server_ && server_->hang_) server_->release_.set_value();
    if (server_) ARROW_UNUSED(server_->Shutdown());
  }

  arrow::Status Start() {
    server_ = std::make_unique<SliceServer>();
    ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::ForGrpcTcp("127.0.0.1", 0));
    ARROW_RETURN_NOT_OK(server_->Init(fl::FlightServerOptions(location)));
    address_ = "127.0.0.1:" + std::to_string(server_->port());
    return arrow::Status::OK();
  }

  ShardPutHop Hop(int32_t shard) const { return ShardPutHop{"ds", shard, 1, true, 0}; }

  std::unique_ptr<SliceServer> server_;
  std::string address_;
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::RecordBatch> batch_;
  PeerClients peers_;
  const std::chrono::milliseconds timeout_{5000};
};

TEST_F(PutStreamsTest, ConcurrentSlicesShareOneStream) {
  PutStreams streams(peers_, nullptr, nullptr);
  std::vector<std::future<bool>> senders;
  for (int32_t thread = 0; thread < 8; ++thread) {
    senders.push_back(std::async(std::launch::async, [&, thread] {
      for (int i = 0; i < 20; ++i) {
        const int32_t shard = 10 + thread;  // answered at once
        auto answer = streams.Send(address_, Hop(shard), batch_, timeout_, "");
        if (!answer.ok() || (*answer)["shard"] != shard || (*answer)["rows"] != 3) return false;
      }
      return true;
    }));
  }
  for (auto& sender : senders) EXPECT_TRUE(sender.get());
  const PutStreamCounts counts = streams.counts();
  EXPECT_EQ(counts.slices, 160);
  EXPECT_EQ(counts.opened, 1);
  EXPECT_EQ(server_->streams_.load(), 1);
  EXPECT_EQ(server_->slices_.load(), 160);
}

TEST_F(PutStreamsTest, AnswersAreMatchedBySequenceNumber) {
  PutStreams streams(peers_, nullptr, nullptr);
  auto late = std::async(std::launch::async, [&] {
    return streams.Send(address_, Hop(kLateShard), batch_, timeout_, "");
  });
  while (server_->slices_.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto next = streams.Send(address_, Hop(2), batch_, timeout_, "");  // answered before `late`
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ((*next)["shard"], 2);
  auto first = late.get();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ((*first)["shard"], kLateShard);
  EXPECT_EQ(streams.counts().opened, 1);
}

TEST_F(PutStreamsTest, RefusedSliceFailsAloneAndTheStreamGoesOn) {
  PutStreams streams(peers_, nullptr, nullptr);
  auto refused = streams.Send(address_, Hop(kRefusedShard), batch_, timeout_, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("stale epoch"), std::string::npos);
  auto next = streams.Send(address_, Hop(1), batch_, timeout_, "");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(streams.counts().opened, 1);
  EXPECT_EQ(server_->streams_.load(), 1);
}

TEST_F(PutStreamsTest, UnansweredSliceTimesOutAndTheNextGetsAFreshStream) {
  PutStreams streams(peers_, nullptr, nullptr);
  auto silent =
      streams.Send(address_, Hop(kSilentShard), batch_, std::chrono::milliseconds(200), "");
  ASSERT_FALSE(silent.ok());
  EXPECT_TRUE(PeerUnreachable(silent.status())) << silent.status().ToString();
  auto next = streams.Send(address_, Hop(1), batch_, timeout_, "");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(streams.counts().opened, 2);
}

TEST_F(PutStreamsTest, KeyedByTokenAndDataset) {
  PutStreams streams(peers_, nullptr, nullptr);
  ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "client-a").ok());
  ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "client-b").ok());
  ShardPutHop other = Hop(1);
  other.dataset = "other";
  ASSERT_TRUE(streams.Send(address_, other, batch_, timeout_, "client-a").ok());
  ASSERT_TRUE(streams.Send(address_, Hop(2), batch_, timeout_, "client-a").ok());
  EXPECT_EQ(streams.counts().opened, 3);
}

TEST_F(PutStreamsTest, ServerGoneFailsTheWaitingSliceAsUnreachable) {
  PutStreams streams(peers_, nullptr, nullptr);
  ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "").ok());
  auto silent = std::async(std::launch::async, [&] {
    return streams.Send(address_, Hop(kSilentShard), batch_, timeout_, "");
  });
  while (server_->slices_.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto deadline = std::chrono::system_clock::now();
  ASSERT_TRUE(server_->Shutdown(&deadline).ok());
  auto answer = silent.get();
  ASSERT_FALSE(answer.ok());
  EXPECT_TRUE(PeerUnreachable(answer.status())) << answer.status().ToString();
  server_.reset();
}

TEST_F(PutStreamsTest, IdleOldAndGoneStreamsAreClosed) {
  PutStreamOptions options;
  options.idle = std::chrono::milliseconds(100);
  options.sweep = std::chrono::milliseconds(20);
  std::atomic<bool> live{true};
  auto members = [&]() -> std::vector<std::string> {
    if (live.load()) return {address_};
    return {};
  };
  PutStreams streams(peers_, members, nullptr, options);
  auto wait_closed = [&] {
    for (int i = 0; i < 500 && streams.counts().open > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return streams.counts().open == 0;
  };
  ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "").ok());
  EXPECT_EQ(streams.counts().open, 1);
  EXPECT_TRUE(wait_closed()) << "an idle stream stays open";
  ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "").ok());
  EXPECT_EQ(streams.counts().opened, 2);  // a new one for the next slice

  options.idle = std::chrono::minutes(1);
  PutStreams kept(peers_, members, nullptr, options);
  ASSERT_TRUE(kept.Send(address_, Hop(1), batch_, timeout_, "").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(kept.counts().open, 1);  // in use lately, its peer a member: kept
  live = false;                      // the peer left the cluster
  for (int i = 0; i < 500 && kept.counts().open > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(kept.counts().open, 0);
  EXPECT_EQ(kept.counts().broken, 0);  // closed, not failed

  options.max_age = std::chrono::milliseconds(50);
  PutStreams aging(peers_, nullptr, nullptr, options);
  ASSERT_TRUE(aging.Send(address_, Hop(1), batch_, timeout_, "").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  ASSERT_TRUE(aging.Send(address_, Hop(1), batch_, timeout_, "").ok());
  EXPECT_EQ(aging.counts().opened, 2);  // too old for the next slice
}

TEST_F(PutStreamsTest, DestructorStopsTheSweeperBeforeItClosesTheStreams) {
  // The sweeper asks the node (its live members) while it runs: it must be stopped before the
  // streams are closed, the node's state going right after them. A call that takes 300 ms to
  // end gives a sweeper still running (every 5 ms) the time to show itself.
  server_->finish_delay_ms_ = 300;
  PutStreamOptions options;
  options.sweep = std::chrono::milliseconds(5);
  std::atomic<int64_t> last_sweep_at{0};
  auto members = [&]() -> std::vector<std::string> {
    last_sweep_at = std::chrono::steady_clock::now().time_since_epoch().count();
    return {address_};
  };
  {
    PutStreams streams(peers_, members, nullptr, options);
    ASSERT_TRUE(streams.Send(address_, Hop(1), batch_, timeout_, "").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_GT(last_sweep_at.load(), 0);
  }  // closes the stream: the server sees its end
  ASSERT_GT(server_->done_writing_at_.load(), 0) << "the stream was not closed";
  EXPECT_LT(last_sweep_at.load(), server_->done_writing_at_.load())
      << "the sweeper ran while the destructor closed the streams";
}

TEST_F(PutStreamsTest, AStreamToAHungPeerIsCancelledWhenClosed) {
  // Arrow's DoPut has no cancel: closing this stream used to wait for its call's deadline,
  // past the stream's whole lifetime (here 60 s), holding the sweeper and the node's shutdown.
  server_->hang_ = true;
  PutStreamOptions options;
  options.sweep = std::chrono::milliseconds(20);
  options.close_wait = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  {
    PutStreams streams(peers_, nullptr, nullptr, options);
    auto answer = streams.Send(address_, Hop(1), batch_, std::chrono::milliseconds(200), "");
    ASSERT_FALSE(answer.ok());
    EXPECT_TRUE(PeerUnreachable(answer.status())) << answer.status().ToString();
    EXPECT_EQ(server_->hung_.load(), 1);
    // The sweeper closes the stream that timed out: its peer does not end the call, so the
    // call is cancelled once close_wait has passed.
    for (int i = 0; i < 500 && streams.counts().cancelled == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(streams.counts().cancelled, 1);
    EXPECT_EQ(streams.counts().open, 0);
    // The next slice gets a fresh stream (to the same hung peer: it times out too), and the
    // destructor cancels it as well instead of waiting for the peer.
    auto next = streams.Send(address_, Hop(2), batch_, std::chrono::milliseconds(200), "");
    EXPECT_FALSE(next.ok());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(PutStreamsTest, NodeOlderThanPutStreamsIsSentOneShotPuts) {
  PutStreams streams(peers_, nullptr, nullptr);
  EXPECT_TRUE(streams.Serves(address_));
  server_->old_version_ = true;
  auto refused = streams.Send(address_, Hop(1), batch_, timeout_, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid()) << refused.status().ToString();
  EXPECT_FALSE(streams.Serves(address_));  // the router sends it one-shot puts meanwhile
  EXPECT_EQ(streams.counts().slices, 0);

  server_->old_version_ = false;  // a slice refused by a newer node: it still takes streams
  PutStreams fresh(peers_, nullptr, nullptr);
  ASSERT_FALSE(fresh.Send(address_, Hop(kRefusedShard), batch_, timeout_, "").ok());
  EXPECT_TRUE(fresh.Serves(address_));
}

TEST(PutStreamProtocol, AnswersRoundTripWithTheirCodes) {
  auto ok = ParseSliceAnswer(SliceAnswerJson(3, Json{{"rows", 2}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, 3);
  EXPECT_EQ((*ok->second)["rows"], 2);

  auto stale = ParseSliceAnswer(SliceAnswerJson(4, arrow::Status::Invalid("stale epoch 2")));
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->second.status().IsInvalid());
  EXPECT_EQ(stale->second.status().message(), "stale epoch 2");

  auto gone = ParseSliceAnswer(
      SliceAnswerJson(5, fl::MakeFlightError(fl::FlightStatusCode::Unavailable, "durable on 1")));
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(PeerUnreachable(gone->second.status()));

  EXPECT_TRUE(ParseSliceAnswer(Json{{"ack", 1}}).status().IsInvalid());
  EXPECT_TRUE(ParseSliceAnswer(Json{{"seq", 1}}).status().IsInvalid());
  EXPECT_TRUE(ParseSliceAnswer(Json{{"seq", 1}, {"error", {{"code", 0}, {"message", ""}}}})
                  .status()
                  .IsInvalid());
}

TEST(PutStreamProtocol, DescriptorsAndHops) {
  auto dataset = ParsePutStreamCommand(PutStreamCommand("vectors"));
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ(**dataset, "vectors");
  EXPECT_FALSE(*ParsePutStreamCommand(R"({"shard_put": {"dataset": "x"}})"));
  EXPECT_FALSE(*ParsePutStreamCommand("not json"));
  EXPECT_TRUE(ParsePutStreamCommand(R"({"shard_put_stream": {}})").status().IsInvalid());

  const ShardPutHop hop{"vectors", 2, 5, true, 1};
  auto parsed = ParseShardPutFields("vectors", hop.FieldsJson());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->shard, 2);
  EXPECT_EQ(parsed->epoch, 5);
  EXPECT_TRUE(parsed->primary);
  EXPECT_EQ(parsed->write_quorum, 1);
  auto once = ParseShardPutHop(hop.ToJson().dump());
  ASSERT_TRUE(once.ok() && once->has_value());
  EXPECT_EQ((*once)->dataset, "vectors");
  EXPECT_TRUE(ParseShardPutFields("v", Json{{"shard", 1}}).status().IsInvalid());
  EXPECT_TRUE(
      ParseShardPutFields("v", Json{{"shard", 1}, {"epoch", 1}, {"role", 3}}).status().IsInvalid());
  EXPECT_TRUE(ParseShardPutFields("v", Json{{"shard", 1}, {"epoch", 1}, {"write_quorum", "two"}})
                  .status()
                  .IsInvalid());
}

}  // namespace
}  // namespace arbalest
