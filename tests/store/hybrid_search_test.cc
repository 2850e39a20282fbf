#include "store/hybrid_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "doc_batches.h"
#include "testing/filters.h"
#include "text/fusion.h"

namespace arbalest {
namespace {

using testing::Doc;
using testing::DocBatch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Three topics, ten rows each (row i has topic i % 3, group i % 2): vectors sit near their
// topic's centre, and each body holds its topic's word plus a word of its own, "w<i>".
constexpr int kRows = 30;
const char* const kTopicWords[] = {"telescope", "bread", "goal"};
const float kCentres[][2] = {{10, 0}, {0, 10}, {-10, 0}};

std::vector<Doc> Corpus(int first, int count) {
  std::vector<Doc> docs;
  for (int i = first; i < first + count; ++i) {
    const int topic = i % 3;
    docs.push_back({std::string(kTopicWords[topic]) + " w" + std::to_string(i),
                    {kCentres[topic][0] + 0.1f * static_cast<float>(i), kCentres[topic][1]},
                    i % 2});
  }
  return docs;
}

class HybridSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dataset_ = *Dataset::Create("docs", *DocBatch(0, Corpus(0, 1))->schema(), &budget_);
    ASSERT_TRUE(dataset_->Append(DocBatch(0, Corpus(0, kRows / 2))).ok());
    ASSERT_TRUE(dataset_->Append(DocBatch(kRows / 2, Corpus(kRows / 2, kRows / 2))).ok());
  }

  static SearchRequest Request(std::optional<std::string> text, std::optional<double> alpha,
                               std::vector<float> query = {10, 0}, int64_t k = 5) {
    SearchRequest request;
    request.query = std::move(query);
    request.k = k;
    request.text_query = std::move(text);
    request.alpha = alpha;
    return request;
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Search(const SearchRequest& request) {
    return SearchDataset(*dataset_, request);
  }

  MemoryBudget budget_{0};
  std::shared_ptr<Dataset> dataset_;
};

// Ids (here equal to row numbers) of a result, in order.
std::vector<int64_t> Ids(const arrow::RecordBatch& result) {
  const auto& ids = static_cast<const arrow::Int64Array&>(*result.GetColumnByName("id"));
  return {ids.raw_values(), ids.raw_values() + ids.length()};
}

const arrow::FloatArray& Column(const arrow::RecordBatch& result, const std::string& name) {
  return static_cast<const arrow::FloatArray&>(*result.GetColumnByName(name));
}

std::vector<uint64_t> TextRanking(const Dataset& dataset, const std::string& query, size_t k) {
  std::vector<uint64_t> rows;
  const RowFilter any = RowFilter::FromPredicate([](uint64_t) { return true; });
  for (const ScoredRow& hit : dataset.text()->Search(query, k, any)) rows.push_back(hit.row);
  return rows;
}

TEST_F(HybridSearchTest, TextOnlyIsTheBm25Ranking) {
  // "w7" is in one body only; "goal" in ten: row 7 (which has only w7) ranks above the rows
  // that have only "goal", by idf.
  auto result = Search(Request("goal w7", 0.0, /*query=*/{}, /*k=*/4));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<uint64_t> expected = TextRanking(*dataset_, "goal w7", 4);
  ASSERT_EQ(expected.front(), 7u);
  EXPECT_EQ(Ids(**result), std::vector<int64_t>(expected.begin(), expected.end()));
  const auto& scores = Column(**result, "score");
  const auto& distances = Column(**result, "distance");
  for (int64_t i = 0; i < (*result)->num_rows(); ++i) {
    EXPECT_FLOAT_EQ(scores.Value(i), 1.0f / (60.0f + static_cast<float>(i + 1)));
    EXPECT_TRUE(distances.IsNull(i));
  }
  EXPECT_TRUE((*result)->schema()->GetFieldByName("distance")->nullable());
  EXPECT_THAT((*result)->schema()->field_names(),
              ElementsAre("id", "score", "distance", "body", "group"));
}

TEST_F(HybridSearchTest, AlphaOneIsTheDenseSearch) {
  // Half the rows in the graph, half in the exact tail.
  ASSERT_EQ(*dataset_->CatchUpIndex(kRows / 2, /*threads=*/1, [] { return false; }), kRows / 2);
  auto dense = Search(Request(std::nullopt, std::nullopt, {9, 1}, 6));
  auto hybrid = Search(Request("bread", 1.0, {9, 1}, 6));
  ASSERT_TRUE(dense.ok() && hybrid.ok()) << dense.status() << hybrid.status();
  EXPECT_EQ(Ids(**hybrid), Ids(**dense));
  const auto& dense_distances = Column(**dense, "distance");
  const auto& hybrid_distances = Column(**hybrid, "distance");
  for (int64_t i = 0; i < (*dense)->num_rows(); ++i) {
    EXPECT_EQ(hybrid_distances.Value(i), dense_distances.Value(i));
    EXPECT_FLOAT_EQ(Column(**hybrid, "score").Value(i), 1.0f / (60.0f + static_cast<float>(i + 1)));
  }
  // alpha 1 without a text query is a plain dense search.
  auto plain = Search(Request(std::nullopt, 1.0, {9, 1}, 6));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->Equals(**dense));
}

TEST_F(HybridSearchTest, FusionKeepsTheTopOfBothSides) {
  // The vector points at topic 0 (row 0 nearest); the text names row 13 (topic 1), far away.
  auto result = Search(Request("w13", 0.5, {10, 0}, 2));
  ASSERT_TRUE(result.ok()) << result.status();
  // Each side's first place scores 0.5 / 61; the tie goes to the lower row.
  EXPECT_THAT(Ids(**result), ElementsAre(0, 13));
  const auto& distances = Column(**result, "distance");
  EXPECT_FLOAT_EQ(distances.Value(0), 0.0f);  // in the dense list
  EXPECT_TRUE(distances.IsNull(1));           // text only: beyond the dense list's depth
  EXPECT_FLOAT_EQ(Column(**result, "score").Value(1), 0.5f / 61.0f);

  // A row high in both lists beats rows high in one.
  auto both = Search(Request("w3", 0.5, {10, 0}, 3));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(Ids(**both).front(), 3);
  EXPECT_FALSE(Column(**both, "distance").IsNull(0));
}

TEST_F(HybridSearchTest, FiltersApplyToBothSides) {
  SearchRequest request = Request("telescope w4", 0.5, {10, 0}, 8);
  request.filter = TestFilter(R"([{"field":"group","op":"=","value":1}])");
  auto result = Search(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->num_rows(), 8);
  const auto& groups = static_cast<const arrow::Int32Array&>(*(*result)->GetColumnByName("group"));
  for (int64_t i = 0; i < groups.length(); ++i) EXPECT_EQ(groups.Value(i), 1) << i;
  EXPECT_THAT(Ids(**result), ::testing::Not(::testing::Contains(4)));  // w4 is in group 0

  // Text only: the five odd telescope rows, though k is larger.
  request = Request("telescope", 0.0, {}, 8);
  request.filter = TestFilter(R"([{"field":"group","op":"=","value":1}])");
  auto text_only = Search(request);
  ASSERT_TRUE(text_only.ok()) << text_only.status();
  std::vector<int64_t> ids = Ids(**text_only);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()), (std::set<int64_t>{3, 9, 15, 21, 27}));
}

TEST_F(HybridSearchTest, RowsAppendedAreFoundAtOnce) {
  ASSERT_TRUE(dataset_->Append(DocBatch(100, {{"zeppelin", {0, -10}}})).ok());
  auto result = Search(Request("zeppelin", 0.0, {}, 3));
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(Ids(**result), ElementsAre(100));
  auto fused = Search(Request("zeppelin", 0.5, {10, 0}, 3));
  ASSERT_TRUE(fused.ok());
  EXPECT_THAT(Ids(**fused), ::testing::Contains(100));
}

TEST_F(HybridSearchTest, DeletedRowsAreNeverReturned) {
  Roaring deleted;
  deleted.add(7);
  deleted.add(13);
  ASSERT_TRUE(dataset_->DeleteRecovered(deleted, /*lsn=*/0).ok());
  EXPECT_EQ(dataset_->text()->Stats().live_rows, static_cast<uint64_t>(kRows - 2));
  auto text_only = Search(Request("w7 w13 w16", 0.0, {}, 10));
  ASSERT_TRUE(text_only.ok());
  EXPECT_THAT(Ids(**text_only), ElementsAre(16));
  // Rows 13 and 7 are the nearest to the query vector and match the text: both sides skip them.
  for (const char* filters : {"null", R"([{"field":"group","op":"=","value":1}])"}) {
    SearchRequest request = Request("bread", 0.5, {1.3f, 10}, 10);
    request.filter = TestFilter(filters);
    auto fused = Search(request);
    ASSERT_TRUE(fused.ok()) << fused.status();
    EXPECT_EQ((*fused)->num_rows(), 10) << filters;
    EXPECT_THAT(Ids(**fused), ::testing::Not(::testing::Contains(13))) << filters;
    EXPECT_THAT(Ids(**fused), ::testing::Not(::testing::Contains(7))) << filters;
  }
}

TEST_F(HybridSearchTest, DefaultAndAdaptiveAlpha) {
  auto by_default = Search(Request("bread w5", std::nullopt));
  auto half = Search(Request("bread w5", 0.5));
  ASSERT_TRUE(by_default.ok() && half.ok());
  EXPECT_TRUE((*by_default)->Equals(**half));

  // Two words: AdaptiveAlpha's keyword weight.
  ASSERT_EQ(*HybridAlpha(Request("bread w5", -1.0)), AdaptiveAlpha("bread w5"));
  auto adaptive = Search(Request("bread w5", -1.0));
  auto explicit_alpha = Search(Request("bread w5", AdaptiveAlpha("bread w5")));
  ASSERT_TRUE(adaptive.ok() && explicit_alpha.ok());
  EXPECT_TRUE((*adaptive)->Equals(**explicit_alpha));
  EXPECT_FALSE((*adaptive)->Equals(**half));
}

void ExpectInvalid(const arrow::Result<std::shared_ptr<arrow::RecordBatch>>& result,
                   const std::string& mention) {
  ASSERT_FALSE(result.ok()) << mention;
  EXPECT_TRUE(result.status().IsInvalid()) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr(mention));
}

TEST_F(HybridSearchTest, EachColumnOnceWhateverTheRequestNames) {
  // `id` always leads a result; naming it (or another column twice, or the vector besides
  // include_vectors) must not repeat it, dense or hybrid.
  for (const auto& text : {std::optional<std::string>(), std::optional<std::string>("bread")}) {
    SearchRequest request = Request(text, std::nullopt);
    request.columns = std::vector<std::string>{"id", "group", "vector", "group", "id"};
    request.include_vectors = true;
    auto result = Search(request);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_THAT((*result)->schema()->field_names(),
                ElementsAre("id", "score", "distance", "group", "vector"));
  }
}

TEST_F(HybridSearchTest, BadRequestsNameTheKey) {
  ExpectInvalid(Search(Request("bread", 1.5)), "'alpha' must be at most 1");
  ExpectInvalid(Search(Request(std::nullopt, 0.0)), "no 'text_query'");
  ExpectInvalid(Search(Request(std::nullopt, 0.5)), "no 'text_query'");
  ExpectInvalid(Search(Request("", 0.0, {})), "'text_query' has no words");
  ExpectInvalid(Search(Request(" ?! ", 0.5)), "'text_query' has no words");
  ExpectInvalid(Search(Request("bread", 0.5, {})), "'vector' is needed");
  ExpectInvalid(Search(Request("bread", -1.0, {})), "'vector' is needed");
  ExpectInvalid(Search(Request("bread", std::nullopt, {})), "'vector' is needed");
  ExpectInvalid(Search(Request("bread", 0.5, {1, 2, 3})), "width 3");
  ExpectInvalid(Search(Request("bread", 0.0, {}, 0)), "'k'");

  MemoryBudget budget(0);
  auto plain = *Dataset::Create(
      "plain", *DocBatch(0, Corpus(0, 1), testing::TextColumnsMetadata(""))->schema(), &budget);
  ASSERT_TRUE(plain->Append(DocBatch(0, Corpus(0, 3), testing::TextColumnsMetadata(""))).ok());
  ExpectInvalid(SearchDataset(*plain, Request("bread", 0.5)), "dataset 'plain' has none");
  ExpectInvalid(SearchDataset(*plain, Request("bread", 0.5)), "'text_query'");
}

}  // namespace
}  // namespace arbalest
