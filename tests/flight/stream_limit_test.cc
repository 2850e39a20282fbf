#include "flight/stream_limit.h"

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/status.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace arbalest {
namespace {

std::map<std::string, double> Values(const StreamLimit& limit) {
  std::map<std::string, double> values;
  for (const auto& family : limit.Collect()) {
    const auto& metric = family.metric.front();
    values[family.name] =
        family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
  }
  return values;
}

TEST(StreamLimitTest, RefusesPastTheCapNamingTheFlagAndTheCount) {
  StreamLimit limit(2);
  ASSERT_TRUE(limit.Open().ok());
  ASSERT_TRUE(limit.Open().ok());
  const arrow::Status refused = limit.Open();
  ASSERT_TRUE(refused.IsCapacityError()) << refused.ToString();
  EXPECT_NE(refused.message().find("2 DoPut/DoGet/DoExchange streams are open"), std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("--max-streams"), std::string::npos) << refused.message();
  EXPECT_EQ(limit.open(), 2);
  limit.Close();
  EXPECT_TRUE(limit.Open().ok());
  EXPECT_EQ((Values(limit)),
            (std::map<std::string, double>{{"arbalest_open_streams", 2},
                                           {"arbalest_max_streams", 2},
                                           {"arbalest_streams_refused_total", 1},
                                           {"arbalest_open_cluster_streams", 0},
                                           {"arbalest_cluster_streams_refused_total", 0}}));
}

TEST(StreamLimitTest, ClientsAndClusterNodesHaveACapEach) {
  // Clients holding every slot do not stop the streams between nodes, and the other way round.
  StreamLimit limit(1);
  ASSERT_TRUE(limit.Open(StreamSource::kClient).ok());
  EXPECT_TRUE(limit.Open(StreamSource::kClient).IsCapacityError());
  ASSERT_TRUE(limit.Open(StreamSource::kCluster).ok());
  const arrow::Status refused = limit.Open(StreamSource::kCluster);
  ASSERT_TRUE(refused.IsCapacityError());
  EXPECT_NE(refused.message().find("from cluster nodes"), std::string::npos) << refused.message();
  EXPECT_EQ(limit.open(StreamSource::kClient), 1);
  EXPECT_EQ(limit.open(StreamSource::kCluster), 1);
  limit.Close(StreamSource::kCluster);
  EXPECT_TRUE(limit.Open(StreamSource::kClient).IsCapacityError());  // still the client's cap
  EXPECT_TRUE(limit.Open(StreamSource::kCluster).ok());
  const auto values = Values(limit);
  EXPECT_EQ(values.at("arbalest_streams_refused_total"), 2);
  EXPECT_EQ(values.at("arbalest_cluster_streams_refused_total"), 1);
  EXPECT_EQ(values.at("arbalest_open_cluster_streams"), 1);
}

namespace fl = arrow::flight;

// Holds every DoPut open until released, as a client's idle put or a peer's put stream does.
class HoldingServer : public fl::FlightServerBase {
 public:
  arrow::Status DoPut(const fl::ServerCallContext&, std::unique_ptr<fl::FlightMessageReader>,
                      std::unique_ptr<fl::FlightMetadataWriter>) override {
    released_.wait();
    return arrow::Status::OK();
  }
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

TEST(StreamLimitTest, ClusterCallsTakeTheirOwnSlots) {
  // A real Flight server with the middleware; the calls whose header says "cluster" stand for
  // those with a token of role cluster (server.cc looks the token up).
  auto limit = std::make_shared<StreamLimit>(2);
  HoldingServer server;
  auto location = fl::Location::ForGrpcTcp("127.0.0.1", 0);
  ASSERT_TRUE(location.ok());
  fl::FlightServerOptions options(*location);
  options.middleware.emplace_back(
      "stream-limit",
      std::make_shared<StreamLimitFactory>(limit, [](const fl::CallHeaders& headers) {
        const auto it = headers.find("x-test-source");
        return it != headers.end() && it->second == "cluster";
      }));
  ASSERT_TRUE(server.Init(options).ok());
  auto client = fl::FlightClient::Connect(*fl::Location::ForGrpcTcp("127.0.0.1", server.port()));
  ASSERT_TRUE(client.ok());
  const auto schema = arrow::schema({arrow::field("id", arrow::int64())});
  auto call_as = [](const std::string& source) {
    fl::FlightCallOptions call;
    call.headers.emplace_back("x-test-source", source);
    call.timeout = fl::TimeoutDuration(30);
    return call;
  };
  // Opens a put; whether the server took it (a refused one ends with its error).
  std::vector<fl::FlightClient::DoPutResult> held;
  auto open = [&](const std::string& source) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(
        auto put, (*client)->DoPut(call_as(source), fl::FlightDescriptor::Path({"x"}), schema));
    held.push_back(std::move(put));
    return arrow::Status::OK();
  };
  // A put the server refuses: its error, as DoPut or the call's end gives it.
  auto refusal = [&](const std::string& source) -> arrow::Status {
    ARROW_RETURN_NOT_OK(open(source));
    arrow::Status ended = held.back().writer->Close();
    held.pop_back();
    return ended.ok() ? arrow::Status::Invalid("not refused") : ended;
  };
  auto wait_open = [&](StreamSource source, int64_t n) {
    for (int i = 0; i < 1000 && limit->open(source) != n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return limit->open(source) == n;
  };
  // Cluster nodes fill their cap: another node's call is refused, a client's is served.
  EXPECT_TRUE(open("cluster").ok());
  EXPECT_TRUE(open("cluster").ok());
  EXPECT_TRUE(wait_open(StreamSource::kCluster, 2));
  const arrow::Status refused = refusal("cluster");
  EXPECT_NE(refused.message().find("from cluster nodes"), std::string::npos) << refused.ToString();
  EXPECT_TRUE(open("client").ok());
  EXPECT_TRUE(wait_open(StreamSource::kClient, 1));
  EXPECT_EQ(limit->open(StreamSource::kCluster), 2);
  // Clients fill theirs: a client's call is refused; the cluster nodes' are unchanged.
  EXPECT_TRUE(open("client").ok());
  EXPECT_TRUE(wait_open(StreamSource::kClient, 2));
  const arrow::Status client_refused = refusal("client");
  EXPECT_NE(client_refused.message().find("2 DoPut/DoGet/DoExchange streams are open"),
            std::string::npos)
      << client_refused.ToString();
  EXPECT_EQ(limit->open(StreamSource::kCluster), 2);
  const auto values = Values(*limit);
  EXPECT_EQ(values.at("arbalest_cluster_streams_refused_total"), 1);
  EXPECT_EQ(values.at("arbalest_streams_refused_total"), 1);

  server.release_.set_value();
  for (auto& put : held) ARROW_UNUSED(put.writer->Close());
  ASSERT_TRUE(server.Shutdown().ok());
}

}  // namespace
}  // namespace arbalest
