// Deletes through the store: counting, scans, search (graph and unindexed tail, with and
// without filters) and search by id.
#include <gtest/gtest.h>

#include <set>

#include "store/id_lookup.h"
#include "store/scan.h"
#include "store/search.h"
#include "store/search_by_id.h"
#include "store/vector_store.h"
#include "testing/batches.h"
#include "testing/filters.h"

namespace arbalest {
namespace {

using testing::MakeVectorBatch;

constexpr int32_t kDim = 4;

std::set<int64_t> IdsOf(const arrow::RecordBatch& batch) {
  const auto& ids = static_cast<const arrow::Int64Array&>(*batch.column(0));
  std::set<int64_t> result;
  for (int64_t i = 0; i < ids.length(); ++i) result.insert(ids.Value(i));
  EXPECT_EQ(result.size(), static_cast<size_t>(batch.num_rows())) << "duplicated rows";
  return result;
}

// The query vector of MakeVectorBatch's row with id `id`.
std::vector<float> VectorOf(int64_t id) {
  std::vector<float> vector;
  for (int j = 0; j < kDim; ++j) vector.push_back(static_cast<float>(id) + j / 1000.0f);
  return vector;
}

class DeleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Put("ds", MakeVectorBatch(0, 20, kDim), &dataset_).ok());
    for (int b = 1; b < 5; ++b) {
      ASSERT_TRUE(store_.Append(*dataset_, MakeVectorBatch(b * 20, 20, kDim)).ok());
    }
  }

  int64_t Delete(const std::string& ids) {
    auto array = IdsToArray(TestIds(ids), /*single=*/false, *dataset_, "ids");
    EXPECT_TRUE(array.ok()) << array.status().ToString();
    auto deleted = store_.Delete(*dataset_, **array);
    EXPECT_TRUE(deleted.ok()) << deleted.status().ToString();
    return deleted.ValueOr(-1);
  }

  std::set<int64_t> Scan(const char* filters = "null") {
    ScanOptions options;
    options.filter = TestFilter(filters);
    auto reader = ScanSnapshot(dataset_->Snapshot(), options);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    auto table = (*reader)->ToTable().ValueOrDie();
    return IdsOf(*table->CombineChunksToBatch().ValueOrDie());
  }

  std::set<int64_t> Search(int64_t near, int64_t k, const char* filters = "null") {
    SearchRequest request;
    request.query = VectorOf(near);
    request.k = k;
    request.filter = TestFilter(filters);
    auto result = SearchDataset(*dataset_, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return IdsOf(**result);
  }

  // Adds up to `rows` rows to the graph; returns how many were added.
  int64_t AddToGraph(int64_t rows) {
    return dataset_->CatchUpIndex(rows, /*threads=*/1, [] { return false; }).ValueOrDie();
  }

  VectorStore store_{0};
  std::shared_ptr<Dataset> dataset_;
};

TEST_F(DeleteTest, CountsOnlyRowsActuallyDeleted) {
  EXPECT_EQ(Delete("[1, 2, 2, 1000]"), 2);
  EXPECT_EQ(Delete("[1]"), 0);                                              // already deleted
  ASSERT_TRUE(store_.Append(*dataset_, MakeVectorBatch(3, 2, kDim)).ok());  // ids 3, 4 again
  EXPECT_EQ(Delete("[3]"), 2);  // every row carrying the id
  const DatasetSnapshot snapshot = dataset_->Snapshot();
  EXPECT_EQ(snapshot.num_rows, 102);
  EXPECT_EQ(snapshot.live_rows(), 98);
  EXPECT_EQ(snapshot.deleted_rows, 4);
}

TEST_F(DeleteTest, ScansLeaveDeletedRowsOut) {
  EXPECT_EQ(Delete("[0, 19, 20, 55, 99]"), 5);  // batch edges and a middle row
  const std::set<int64_t> all = Scan();
  EXPECT_EQ(all.size(), 95u);
  for (int64_t id : {0, 19, 20, 55, 99}) EXPECT_FALSE(all.contains(id)) << id;
  EXPECT_TRUE(all.contains(1) && all.contains(21) && all.contains(98));
  const std::set<int64_t> tag1 = Scan(R"([{"field": "tag", "op": "=", "value": "tag1"}])");
  EXPECT_EQ(tag1.size(), 31u);  // 33 ids = 1 mod 3 below 100, minus 19 and 55
  EXPECT_FALSE(tag1.contains(19) || tag1.contains(55));
}

TEST_F(DeleteTest, SearchLeavesDeletedRowsOutOfTheGraphAndTheTail) {
  ASSERT_EQ(AddToGraph(50), 50);  // rows 0..49 in the graph
  EXPECT_EQ(Search(30, 5), (std::set<int64_t>{28, 29, 30, 31, 32}));
  EXPECT_EQ(Delete("[30, 31, 60, 63]"), 4);
  EXPECT_EQ(Search(30, 5), (std::set<int64_t>{27, 28, 29, 32, 33}));
  EXPECT_EQ(Search(60, 4), (std::set<int64_t>{58, 59, 61, 62}));           // tail: not indexed yet
  const char* tag0 = R"([{"field": "tag", "op": "=", "value": "tag0"}])";  // id % 3 == 0
  EXPECT_EQ(Search(30, 4, tag0), (std::set<int64_t>{24, 27, 33, 36}));
  EXPECT_EQ(Search(60, 3, tag0), (std::set<int64_t>{57, 54, 66}));
  // Rows deleted before the index reached them stay out once they are in the graph.
  ASSERT_EQ(AddToGraph(1000), 50);
  EXPECT_EQ(Search(60, 4), (std::set<int64_t>{58, 59, 61, 62}));
  EXPECT_EQ(Search(60, 3, tag0), (std::set<int64_t>{57, 54, 66}));
}

TEST_F(DeleteTest, SearchFindsKLiveRowsWhenMostRowsAreDeleted) {
  ASSERT_EQ(AddToGraph(100), 100);
  Json ids = Json::array();
  for (int id = 0; id < 100; ++id) {
    if (id % 10 != 7) ids.push_back(id);
  }
  EXPECT_EQ(Delete(ids.dump()), 90);
  const std::set<int64_t> live = {7, 17, 27, 37, 47, 57, 67, 77, 87, 97};
  EXPECT_EQ(Search(50, 10), live);
  EXPECT_EQ(Search(50, 20), live);  // fewer than k live rows: all of them
  EXPECT_EQ(Search(50, 2, R"([{"field": "score", "op": ">", "value": 40}])"),
            (std::set<int64_t>{87, 97}));  // score = id / 2
}

TEST_F(DeleteTest, SearchByIdLeavesTheRowItselfOut) {
  ASSERT_EQ(AddToGraph(50), 50);
  const auto by_id = [&](const char* id, int64_t k, const char* filters = "null") {
    auto array = IdsToArray(TestIds(id), /*single=*/true, *dataset_, "id");
    EXPECT_TRUE(array.ok());
    SearchRequest request;
    request.k = k;
    request.filter = TestFilter(filters);
    return SearchDatasetById(*dataset_, **array, request);
  };
  EXPECT_EQ(IdsOf(*by_id("40", 4).ValueOrDie()), (std::set<int64_t>{38, 39, 41, 42}));
  EXPECT_EQ(IdsOf(*by_id("70", 2).ValueOrDie()), (std::set<int64_t>{69, 71}));  // tail row
  const char* tag2 = R"([{"field": "tag", "op": "=", "value": "tag2"}])";       // id % 3 == 2
  EXPECT_EQ(IdsOf(*by_id("40", 2, tag2).ValueOrDie()), (std::set<int64_t>{38, 41}));
  EXPECT_EQ(Delete("[39, 40]"), 2);
  EXPECT_EQ(IdsOf(*by_id("41", 2).ValueOrDie()), (std::set<int64_t>{42, 43}));
  auto deleted = by_id("40", 4);
  ASSERT_TRUE(deleted.status().IsKeyError());
  EXPECT_EQ(deleted.status().message(), "id 40 not found in dataset 'ds'");
  EXPECT_TRUE(by_id("12345", 4).status().IsKeyError());
}

TEST_F(DeleteTest, DeleteFromADroppedDatasetIsRefused) {
  auto ids = IdsToArray(TestIds("[1]"), /*single=*/false, *dataset_, "ids").ValueOrDie();
  ASSERT_TRUE(store_.Drop("ds").ok());
  auto refused = store_.Delete(*dataset_, *ids);
  EXPECT_TRUE(refused.status().IsKeyError()) << refused.status().ToString();
}

}  // namespace
}  // namespace arbalest
