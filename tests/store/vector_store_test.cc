#include "store/vector_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "dataset_internals.h"
#include "testing/batches.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

TEST(VectorStoreTest, PutCreatesThenAppends) {
  VectorStore store(0);
  std::shared_ptr<Dataset> dataset;
  auto first = store.Put("ds", MakeVectorBatch(0, 5, 4), &dataset);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_NE(dataset, nullptr);
  auto second = store.Append(*dataset, MakeVectorBatch(5, 5, 4));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second->seq, first->seq);
  EXPECT_EQ((*store.Get("ds"))->Snapshot().num_rows, 10);
}

TEST(VectorStoreTest, RejectedFirstBatchCreatesNothing) {
  VectorStore store(0);
  std::shared_ptr<Dataset> dataset;
  EXPECT_TRUE(store.Put("ds", MakeVectorBatch(0, 0, 4), &dataset).status().IsInvalid());
  EXPECT_TRUE(store.Get("ds").status().IsKeyError());
  EXPECT_TRUE(store.List().empty());
}

TEST(VectorStoreTest, NamesAreValidated) {
  VectorStore store(0);
  std::shared_ptr<Dataset> dataset;
  EXPECT_TRUE(store.Put("bad name", MakeVectorBatch(0, 1, 4), &dataset).status().IsInvalid());
  EXPECT_TRUE(store.Get("bad//name").status().IsInvalid());
  // "namespace/name" is a valid name; its namespace must exist for the dataset to be created.
  EXPECT_TRUE(store.Get("ns/name").status().IsKeyError());
  EXPECT_TRUE(store.Put("ns/name", MakeVectorBatch(0, 1, 4), &dataset).status().IsKeyError());
  ASSERT_TRUE(store.CreateNamespace("ns").ok());
  EXPECT_TRUE(store.Put("ns/name", MakeVectorBatch(0, 1, 4), &dataset).ok());
  auto missing = store.Get("missing");
  EXPECT_TRUE(missing.status().IsKeyError());
  EXPECT_EQ(missing.status().message(), "dataset 'missing' not found");
}

TEST(VectorStoreTest, ListsSortedAndDrops) {
  VectorStore store(0);
  std::shared_ptr<Dataset> dataset;
  for (const char* name : {"b", "a", "c"}) {
    dataset.reset();
    ASSERT_TRUE(store.Put(name, MakeVectorBatch(0, 1, 4), &dataset).ok());
  }
  auto listed = store.List();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0]->name(), "a");
  EXPECT_EQ(listed[2]->name(), "c");
  ASSERT_TRUE(store.Drop("b").ok());
  EXPECT_TRUE(store.Drop("b").IsKeyError());
  EXPECT_TRUE(store.Drop("b/../a").IsInvalid());
  EXPECT_EQ(store.List().size(), 2u);
}

// A drop waits for its dataset's appends (its append mutex) and for the log without holding
// the map of datasets: other datasets are read and written meanwhile.
TEST(VectorStoreTest, DropWaitingForItsDatasetDoesNotStopOthers) {
  VectorStore store(0);
  std::shared_ptr<Dataset> a, b;
  ASSERT_TRUE(store.Put("a", MakeVectorBatch(0, 1, 4), &a).ok());
  ASSERT_TRUE(store.Put("b", MakeVectorBatch(0, 1, 4), &b).ok());
  std::future<arrow::Status> dropped;
  {
    MutexLock busy(&DatasetInternalsForTest::append_mutex(*a));  // as an append of "a" would
    dropped = std::async(std::launch::async, [&] { return store.Drop("a"); });
    auto others = std::async(std::launch::async, [&] {
      std::shared_ptr<Dataset> c;
      return store.Put("c", MakeVectorBatch(0, 3, 4), &c).ok() && store.Get("b").ok() &&
             store.List().size() == 3;
    });
    ASSERT_EQ(others.wait_for(std::chrono::seconds(20)), std::future_status::ready)
        << "the drop of 'a' held up other datasets";
    EXPECT_TRUE(others.get());
    EXPECT_EQ(dropped.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  }
  EXPECT_TRUE(dropped.get().ok());
  EXPECT_TRUE(store.Get("a").status().IsKeyError());
  EXPECT_TRUE(store.Drop("a").IsKeyError());
}

// Puts racing to create one dataset: exactly one creates it, the others append to it.
TEST(VectorStoreTest, ConcurrentCreationsOfOneNameMakeOneDataset) {
  VectorStore store(0);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<Dataset>> seen(kThreads);
  std::vector<bool> ok(kThreads, false);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(
        [&, t] { ok[t] = store.Put("ds", MakeVectorBatch(t * 10, 10, 4), &seen[t]).ok(); });
  }
  for (auto& thread : threads) thread.join();
  auto dataset = store.Get("ds");
  ASSERT_TRUE(dataset.ok());
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(ok[t]) << t;
    EXPECT_EQ(seen[t], *dataset) << t;
  }
  EXPECT_EQ((*dataset)->Snapshot().num_rows, kThreads * 10);
  EXPECT_EQ(store.List().size(), 1u);
}

TEST(VectorStoreTest, SchemaOnlyCreate) {
  VectorStore store(0);
  ASSERT_TRUE(store.GetOrCreate("empty", *MakeVectorBatch(0, 1, 4)->schema()).ok());
  EXPECT_EQ((*store.Get("empty"))->Snapshot().num_rows, 0);
  EXPECT_TRUE(store.GetOrCreate("nope", *arrow::schema({arrow::field("x", arrow::int8())}))
                  .status()
                  .IsInvalid());
}

}  // namespace
}  // namespace arbalest
