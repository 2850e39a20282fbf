#include "metrics/status_api.h"

#include <arrow/builder.h>
#include <gtest/gtest.h>

#include <string_view>

#include "metrics/status_assets.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

std::shared_ptr<arrow::Array> Int64Ids(std::initializer_list<int64_t> ids) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendValues(ids.begin(), ids.end()).ok());
  return builder.Finish().ValueOrDie();
}

class StatusApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<Dataset> a, b;
    ASSERT_TRUE(store_->Put("a", MakeVectorBatch(0, 10, 4), &a).ok());
    ASSERT_TRUE(store_->Put("b", MakeVectorBatch(0, 5, 8), &b).ok());
    ASSERT_TRUE(store_->Append(*b, MakeVectorBatch(5, 5, 8)).ok());
    auto deleted = store_->Delete(*a, *Int64Ids({1, 2, 1000}));
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
    ASSERT_EQ(*deleted, 2);
  }

  std::shared_ptr<VectorStore> store_ = std::make_shared<VectorStore>(64 << 20);
  std::shared_ptr<ServerMetrics> metrics_ = std::make_shared<ServerMetrics>();
};

TEST_F(StatusApiTest, DatasetsAsStatsShowsThem) {
  const Json document = StatusApi(store_, metrics_, {"1.2.3"}).Document(1700000000.5);
  EXPECT_EQ(document["version"], "1.2.3");
  EXPECT_EQ(document["time_seconds"], 1700000000.5);
  const Json& datasets = document["datasets"];
  ASSERT_EQ(datasets.size(), 2u);
  const Json& a = datasets[0];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["rows"], 8);
  EXPECT_EQ(a["deleted_rows"], 2);
  EXPECT_EQ(a["dim"], 4);
  EXPECT_EQ(a["metric"], "euclidean");
  EXPECT_EQ(a["vector_type"], "float32");
  EXPECT_FALSE(a["build_precision"].get<std::string>().empty());  // the graph's distances
  EXPECT_GT(a["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(a["memory_bytes"].get<int64_t>(),
            a["bytes"].get<int64_t>() + a["index_bytes"].get<int64_t>());
  // No index workers: nothing is indexed, every row lags.
  EXPECT_EQ(a["indexed_rows"], 0);
  EXPECT_EQ(a["index_lag_rows"], 10);
  EXPECT_EQ(a["index_ready"], false);
  EXPECT_TRUE(a["last_snapshot"].is_null());
  const Json& b = datasets[1];
  EXPECT_EQ(b["name"], "b");
  EXPECT_EQ(b["rows"], 10);
  EXPECT_EQ(b["deleted_rows"], 0);
  EXPECT_EQ(b["dim"], 8);

  EXPECT_EQ(document["totals"]["datasets"], 2);
  EXPECT_EQ(document["totals"]["rows"], 18);
  EXPECT_EQ(document["totals"]["deleted_rows"], 2);
  EXPECT_EQ(document["totals"]["index_lag_rows"], 20);
  EXPECT_EQ(document["ingest"]["rows"], 20);
  EXPECT_EQ(document["ingest"]["batches"], 3);
  EXPECT_GT(document["ingest"]["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(document["memory"]["limit_bytes"], 64 << 20);
  EXPECT_EQ(document["memory"]["used_bytes"], store_->memory().data_bytes());
  EXPECT_EQ(document["memory"]["held_freed_bytes"], store_->memory().held_freed());
  EXPECT_GT(document["process"]["resident_bytes"].get<int64_t>(), 0);
  // Neither a log nor a snapshot thread in this store.
  EXPECT_TRUE(document["wal"].is_null());
  EXPECT_TRUE(document["snapshots"].is_null());
}

TEST_F(StatusApiTest, LatencyHistogramsAreCumulativeWithAnInfiniteLastBucket) {
  metrics_->ObserveSearch(0.0001);
  metrics_->ObserveSearch(0.002);
  metrics_->ObserveSearch(100.0);  // past the last finite bound
  metrics_->ObserveWalSync(0.001);
  const Json document = StatusApi(store_, metrics_, {"v"}).Document(0);
  const Json& search = document["search_latency"];
  EXPECT_EQ(search["count"], 3);
  EXPECT_NEAR(search["sum_seconds"].get<double>(), 100.0021, 1e-9);
  const Json& bounds = search["upper_bounds_seconds"];
  const Json& counts = search["cumulative_counts"];
  ASSERT_EQ(bounds.size(), counts.size());
  ASSERT_GE(bounds.size(), 2u);
  EXPECT_TRUE(bounds.back().is_null());  // +Inf
  EXPECT_EQ(counts.back(), 3);
  EXPECT_EQ(counts[counts.size() - 2], 2);  // 100 s is only in +Inf
  for (size_t i = 1; i < counts.size(); ++i) {
    EXPECT_LE(counts[i - 1].get<uint64_t>(), counts[i].get<uint64_t>());
    if (!bounds[i].is_null()) {
      EXPECT_LT(bounds[i - 1].get<double>(), bounds[i].get<double>());
    }
  }
  EXPECT_EQ(document["wal_fsync_latency"]["count"], 1);
  // The document survives a round trip through its text (no NaN or infinity in it).
  const std::string text = StatusApi(store_, metrics_, {"v"}).Serve();
  EXPECT_EQ(Json::parse(text)["search_latency"]["count"], 3);
}

TEST_F(StatusApiTest, WithoutServerMetricsTheHistogramsAreNull) {
  const Json document = StatusApi(store_, nullptr, {"v"}).Document(0);
  EXPECT_TRUE(document["search_latency"].is_null());
  EXPECT_TRUE(document["wal_fsync_latency"].is_null());
  EXPECT_EQ(document["datasets"].size(), 2u);
}

TEST(StatusAssetsTest, ThePageIsServedAtTheRoot) {
  bool root = false;
  for (const StaticAsset& asset : StatusPageAssets()) {
    EXPECT_FALSE(asset.body.empty()) << asset.path;
    EXPECT_EQ(asset.path.front(), '/');
    if (asset.path == "/") {
      root = true;
      EXPECT_EQ(asset.content_type, "text/html; charset=utf-8");
      EXPECT_NE(asset.body.find("<html"), std::string_view::npos);
    }
  }
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace arbalest
