#include "flight/stream_limit.h"

#include <arrow/status.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <map>
#include <string>

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

}  // namespace
}  // namespace arbalest
