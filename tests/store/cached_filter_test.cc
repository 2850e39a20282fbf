// CachedFilter: a filter compiles once per schema, however many queries, scans and batches use
// it, and its cache stays bounded.
#include "store/cached_filter.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store/scan.h"
#include "store/search.h"
#include "testing/batches.h"
#include "testing/filters.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

TEST(CachedFilterTest, CompilesOncePerSchema) {
  const auto filter = TestFilter(R"([{"field":"a","op":">","value":1}])");
  const auto schema = arrow::schema({arrow::field("a", arrow::int64())});
  const auto same = arrow::schema({arrow::field("a", arrow::int64())});  // equal, not the same
  const auto other = arrow::schema({arrow::field("a", arrow::float32())});
  ASSERT_TRUE(filter->Bind(schema).ok());
  ASSERT_TRUE(filter->Bind(schema).ok());
  ASSERT_TRUE(filter->Bind(same).ok());
  EXPECT_EQ(filter->compilations(), 1u);
  auto for_other = filter->Bind(other);
  ASSERT_TRUE(for_other.ok());
  EXPECT_EQ(filter->compilations(), 2u);
  EXPECT_TRUE(for_other->IsBound());
}

TEST(CachedFilterTest, ErrorsAreNotCached) {
  const auto filter = TestFilter(R"([{"field":"a","op":"=","value":"x"}])");
  const auto numbers = arrow::schema({arrow::field("a", arrow::int64())});
  const auto strings = arrow::schema({arrow::field("a", arrow::utf8())});
  EXPECT_TRUE(filter->Bind(numbers).status().IsInvalid());
  EXPECT_TRUE(filter->Bind(numbers).status().IsInvalid());
  EXPECT_TRUE(filter->Bind(strings).ok());
  EXPECT_EQ(filter->compilations(), 1u);
}

TEST(CachedFilterTest, HoldsAtMostItsBoundOfSchemas) {
  const auto filter = TestFilter(R"([{"field":"a","op":"=","value":1}])");
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  for (size_t i = 0; i <= CachedFilter::kMaxCompiledSchemas; ++i) {
    arrow::FieldVector fields{arrow::field("a", arrow::int64())};
    for (size_t k = 0; k < i; ++k) {
      std::string name = "x";
      name += std::to_string(k);
      fields.push_back(arrow::field(name, arrow::int8()));
    }
    schemas.push_back(arrow::schema(fields));
    ASSERT_TRUE(filter->Bind(schemas.back()).ok());
  }
  EXPECT_EQ(filter->compilations(), CachedFilter::kMaxCompiledSchemas + 1);
  ASSERT_TRUE(filter->Bind(schemas.back()).ok());  // the newest is kept
  EXPECT_EQ(filter->compilations(), CachedFilter::kMaxCompiledSchemas + 1);
  ASSERT_TRUE(filter->Bind(schemas.front()).ok());  // the oldest was evicted
  EXPECT_EQ(filter->compilations(), CachedFilter::kMaxCompiledSchemas + 2);
}

TEST(CachedFilterTest, ConcurrentBindsCompileOnce) {
  const auto filter = TestFilter(R"([{"field":"a","op":"in","value":[1, 2, 3]}])");
  const auto schema = arrow::schema({arrow::field("a", arrow::int64())});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) EXPECT_TRUE(filter->Bind(schema).ok());
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(filter->compilations(), 1u);
}

// The batches of a scan and the queries that share a request's filter compile it once.
TEST(CachedFilterTest, ScansAndSearchesOfADatasetCompileOnce) {
  MemoryBudget budget(0);
  auto dataset = *Dataset::Create("ds", *MakeVectorBatch(0, 1, 4)->schema(), &budget);
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(dataset->Append(MakeVectorBatch(b * 20, 20, 4)).ok());
  const auto filter = TestFilter(R"([{"field":"tag","op":"=","value":"tag1"}])");
  ScanOptions options;
  options.filter = filter;
  for (int scan = 0; scan < 3; ++scan) {
    auto reader = ScanSnapshot(dataset->Snapshot(), options);
    ASSERT_TRUE(reader.ok());
    auto table = (*reader)->ToTable();
    ASSERT_TRUE(table.ok());
    EXPECT_GT((*table)->num_rows(), 0);
  }
  SearchRequest request;
  request.filter = filter;
  request.k = 3;
  for (int query = 0; query < 3; ++query) {
    request.query = {static_cast<float>(query), 0, 0, 0};
    auto result = SearchDataset(*dataset, request);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ((*result)->num_rows(), 3);
  }
  EXPECT_EQ(filter->compilations(), 1u);
}

}  // namespace
}  // namespace arbalest
