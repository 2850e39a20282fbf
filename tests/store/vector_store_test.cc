#include "store/vector_store.h"

#include <gtest/gtest.h>

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
  EXPECT_TRUE(store.Get("bad/name").status().IsInvalid());
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
