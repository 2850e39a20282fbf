#include "text/text_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace arbalest {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<TextIndex> MakeIndex() {
  auto tokenizer = Tokenizer::Make();
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::make_unique<TextIndex>(std::move(*tokenizer));
}

std::vector<uint64_t> Rows(const std::vector<ScoredRow>& hits) {
  std::vector<uint64_t> rows;
  for (const ScoredRow& hit : hits) rows.push_back(hit.row);
  return rows;
}

// Textbook BM25 over lower-case, space-separated documents, written out independently of the
// index: no shared code beyond the formula's constants as the design note states them.
class NaiveBm25 {
 public:
  void Add(uint64_t row, const std::string& text) {
    std::istringstream words(text);
    std::map<std::string, int> counts;
    std::string word;
    int length = 0;
    while (words >> word) {
      ++counts[word];
      ++length;
    }
    docs_[row] = {counts, length};
  }

  void Remove(uint64_t row) { docs_.erase(row); }

  // Every matching row with its score, best first, ties by row.
  std::vector<ScoredRow> Search(const std::string& query) const {
    std::set<std::string> terms;
    std::istringstream words(query);
    for (std::string word; words >> word;) terms.insert(word);
    const double n_docs = static_cast<double>(docs_.size());
    double total_length = 0;
    for (const auto& [row, doc] : docs_) total_length += doc.length;
    const double avgdl = total_length / n_docs;
    std::vector<ScoredRow> hits;
    for (const auto& [row, doc] : docs_) {
      double score = 0;
      bool matched = false;
      for (const std::string& term : terms) {
        auto it = doc.counts.find(term);
        if (it == doc.counts.end()) continue;
        matched = true;
        double df = 0;
        for (const auto& [other_row, other] : docs_) df += other.counts.count(term);
        const double idf = std::log(1 + (n_docs - df + 0.5) / (df + 0.5));
        const double tf = it->second;
        score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * doc.length / avgdl));
      }
      if (matched) hits.push_back({row, score});
    }
    std::sort(hits.begin(), hits.end(), [](const ScoredRow& a, const ScoredRow& b) {
      return a.score != b.score ? a.score > b.score : a.row < b.row;
    });
    return hits;
  }

 private:
  struct Doc {
    std::map<std::string, int> counts;
    int length;
  };
  std::map<uint64_t, Doc> docs_;
};

void ExpectSameHits(const std::vector<ScoredRow>& actual, const std::vector<ScoredRow>& expected,
                    const std::string& query) {
  ASSERT_EQ(Rows(actual), Rows(expected)) << query;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i].score, expected[i].score, 1e-9) << query << " row " << actual[i].row;
  }
}

const std::vector<std::string> kScoringCorpus = {
    "apple banana apple cherry",
    "banana banana banana",
    "cherry date elderberry fig grape apple",
    "apple",
    "fig fig grape",
    "date banana cherry apple apple apple kiwi lemon mango",
    "kiwi",
    "lemon lemon mango mango mango banana",
};
const std::vector<std::string> kScoringQueries = {
    "apple", "banana", "apple banana", "kiwi lemon", "fig grape apple", "apple apple", "zebra"};

TEST(TextIndexTest, Bm25MatchesIndependentComputation) {
  auto index = MakeIndex();
  NaiveBm25 naive;
  for (size_t i = 0; i < kScoringCorpus.size(); ++i) {
    const uint64_t row = 100 + 7 * i;  // sparse, unordered-looking row ids
    ASSERT_TRUE(index->Add(row, kScoringCorpus[i]).ok());
    naive.Add(row, kScoringCorpus[i]);
  }
  for (const std::string& query : kScoringQueries) {
    ExpectSameHits(index->Search(query, 100), naive.Search(query), query);
  }
}

TEST(TextIndexTest, RemovedRowsLeaveScoresAsIfNeverAdded) {
  auto index = MakeIndex();
  NaiveBm25 naive;
  for (size_t i = 0; i < kScoringCorpus.size(); ++i) {
    ASSERT_TRUE(index->Add(i, kScoringCorpus[i]).ok());
    naive.Add(i, kScoringCorpus[i]);
  }
  EXPECT_TRUE(index->Remove(0));
  naive.Remove(0);
  EXPECT_FALSE(index->Remove(0));
  EXPECT_FALSE(index->Remove(999));
  EXPECT_EQ(index->Stats().removed_rows, 1u);
  for (const std::string& query : kScoringQueries) {
    ExpectSameHits(index->Search(query, 100), naive.Search(query), query);
  }
  // Removing most rows compacts; results stay right, the removed postings are gone.
  for (uint64_t row : {1, 2, 3, 4}) {
    EXPECT_TRUE(index->Remove(row));
    naive.Remove(row);
  }
  const TextIndexStats stats = index->Stats();
  EXPECT_EQ(stats.live_rows, 3u);
  EXPECT_EQ(stats.removed_rows, 0u);
  EXPECT_EQ(stats.postings, 7u + 1u + 3u);  // distinct terms of rows 5, 6 and 7
  for (const std::string& query : kScoringQueries) {
    ExpectSameHits(index->Search(query, 100), naive.Search(query), query);
  }
}

TEST(TextIndexTest, BatchAddMatchesIndependentComputation) {
  // Two fields a row: the corpus text and a second field repeating its first word, so that
  // terms repeat within a row and across fields.
  auto index = MakeIndex();
  NaiveBm25 naive;
  std::vector<std::string_view> fields;
  for (const std::string& text : kScoringCorpus) {
    fields.push_back(text);
    fields.push_back(std::string_view(text).substr(0, text.find(' ')));
  }
  ASSERT_TRUE(index->Add(3, "to be replaced by the batch").ok());
  auto tokenized = index->Tokenize(fields, kScoringCorpus.size());
  ASSERT_TRUE(tokenized.ok()) << tokenized.status();
  EXPECT_EQ(tokenized->size(), kScoringCorpus.size());
  ASSERT_TRUE(index->Add(/*first_row=*/0, std::move(*tokenized)).ok());
  for (size_t i = 0; i < kScoringCorpus.size(); ++i) {
    naive.Add(i, kScoringCorpus[i] + " " + std::string(fields[2 * i + 1]));
  }
  EXPECT_EQ(index->Stats().live_rows, kScoringCorpus.size());
  EXPECT_THAT(index->Search("replaced", 10), IsEmpty());
  for (const std::string& query : kScoringQueries) {
    ExpectSameHits(index->Search(query, 100), naive.Search(query), query);
  }
}

TEST(TextIndexTest, AddReplacesRowAndJoinsFields) {
  auto index = MakeIndex();
  ASSERT_TRUE(index->Add(1, "old words here").ok());
  ASSERT_TRUE(index->Add(2, "unrelated").ok());
  const std::vector<std::string_view> fields = {"Fresh Title", "and a body"};
  ASSERT_TRUE(index->Add(1, fields).ok());
  EXPECT_THAT(index->Search("old", 10), IsEmpty());
  EXPECT_THAT(Rows(index->Search("title body", 10)), ElementsAre(1));
  const TextIndexStats stats = index->Stats();
  EXPECT_EQ(stats.live_rows, 2u);
  EXPECT_DOUBLE_EQ(stats.avg_doc_length, (5 + 1) / 2.0);
}

TEST(TextIndexTest, EdgeCasesReturnNothing) {
  auto index = MakeIndex();
  EXPECT_THAT(index->Search("anything", 10), IsEmpty());
  ASSERT_TRUE(index->Add(1, "").ok());
  ASSERT_TRUE(index->Add(2, "something").ok());
  EXPECT_THAT(index->Search("something", 0), IsEmpty());
  EXPECT_THAT(index->Search("", 10), IsEmpty());
  EXPECT_THAT(index->Search("?!", 10), IsEmpty());
  EXPECT_THAT(Rows(index->Search("SOMETHING!", 10)), ElementsAre(2));
}

const std::vector<std::string> kSentences = {
    "The quick brown fox jumps over the lazy dog.",
    "Apache Arrow is a columnar in-memory format for analytics.",
    "Arrow Flight moves record batches over gRPC at high speed.",
    "Paris is the capital and largest city of France.",
    "Berlin is the capital of Germany and sits on the Spree.",
    "The Eiffel Tower in Paris was finished in 1889.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "A vector database stores embeddings and finds nearest neighbours.",
    "BM25 ranks documents by term frequency and inverse document frequency.",
    "Reciprocal rank fusion merges result lists from several retrievers.",
    "Espresso is coffee brewed by forcing hot water through ground beans.",
    "The café on the corner serves croissants and strong coffee.",
    "Москва — столица России.",
    "Mount Everest is the highest mountain above sea level.",
    "The Pacific is the largest and deepest ocean on Earth.",
    "Marie Curie won Nobel prizes in physics and chemistry.",
    "Python and C++ are popular programming languages.",
    "Roaring bitmaps compress sets of integers efficiently.",
    "A lazy afternoon with tea, biscuits and a good book.",
    "The river Thames flows through London.",
};

class RankingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_ = MakeIndex();
    for (size_t i = 0; i < kSentences.size(); ++i) ASSERT_TRUE(index_->Add(i, kSentences[i]).ok());
  }
  uint64_t TopRow(std::string_view query) {
    const std::vector<ScoredRow> hits = index_->Search(query, 3);
    EXPECT_FALSE(hits.empty()) << query;
    return hits.empty() ? ~uint64_t{0} : hits[0].row;
  }
  std::unique_ptr<TextIndex> index_;
};

TEST_F(RankingTest, ObviousTopHits) {
  EXPECT_EQ(TopRow("capital of France"), 3u);
  EXPECT_EQ(TopRow("arrow flight grpc"), 2u);
  EXPECT_EQ(TopRow("Eiffel tower"), 5u);
  EXPECT_EQ(TopRow("espresso coffee"), 10u);
  EXPECT_EQ(TopRow("CAFÉ croissants"), 11u);
  EXPECT_EQ(TopRow("москва"), 12u);
  EXPECT_EQ(TopRow("highest mountain"), 13u);
  EXPECT_EQ(TopRow("nobel physics"), 15u);
  EXPECT_EQ(TopRow("lazy dog"), 0u);
  EXPECT_EQ(TopRow("thames london"), 19u);
}

TEST_F(RankingTest, RareTermOutweighsCommonOne) {
  // "the" is in many sentences, "biscuits" in one.
  EXPECT_EQ(TopRow("the biscuits"), 18u);
}

TEST_F(RankingTest, FilterStillReturnsKWhenKMatch) {
  // "the" matches 8 sentences; allow only the odd rows among them.
  const std::vector<ScoredRow> all = index_->Search("the", 100);
  std::vector<uint64_t> odd;
  for (const ScoredRow& hit : all) {
    if (hit.row % 2 == 1) odd.push_back(hit.row);
  }
  ASSERT_GE(odd.size(), 3u);
  const RowFilter predicate = RowFilter::FromPredicate([](uint64_t row) { return row % 2 == 1; });
  EXPECT_THAT(Rows(index_->Search("the", 3, &predicate)), ElementsAre(odd[0], odd[1], odd[2]));
  Roaring64Map allowed;
  for (uint64_t row : odd) allowed.add(row);
  const RowFilter bitmap = RowFilter::FromBitmap(allowed);
  EXPECT_EQ(Rows(index_->Search("the", 100, &bitmap)), odd);
  const RowFilter none = RowFilter::FromPredicate([](uint64_t) { return false; });
  EXPECT_THAT(index_->Search("the", 3, &none), IsEmpty());
}

TEST_F(RankingTest, RemovedRowsAreNeverReturned) {
  ASSERT_TRUE(index_->Remove(3));
  for (const ScoredRow& hit : index_->Search("capital of France Paris", 100)) {
    EXPECT_NE(hit.row, 3u);
  }
  EXPECT_EQ(TopRow("capital of France"), 4u);  // Berlin, the other capital
  ASSERT_TRUE(index_->Add(3, "Paris again").ok());
  EXPECT_EQ(TopRow("paris again"), 3u);
}

TEST(TextIndexTest, TiesBrokenByRow) {
  auto index = MakeIndex();
  for (uint64_t row : {9, 4, 7}) ASSERT_TRUE(index->Add(row, "same text").ok());
  EXPECT_THAT(Rows(index->Search("same", 10)), ElementsAre(4, 7, 9));
  EXPECT_THAT(Rows(index->Search("same", 2)), ElementsAre(4, 7));
}

TEST_F(RankingTest, PostingMemoryIsCounted) {
  const TextIndexStats before = index_->Stats();
  EXPECT_GT(before.posting_bytes, 0u);
  EXPECT_GE(before.total_bytes, before.posting_bytes);
  EXPECT_GE(before.posting_bytes, before.postings * 8);
  ASSERT_TRUE(index_->Add(100, "entirely novel vocabulary words appear").ok());
  EXPECT_GT(index_->Stats().posting_bytes, before.posting_bytes);
}

// Writers add (and now and then remove) rows of identical shape: "common", a marker term of
// their own and two filler words. Readers check that every search sees a consistent snapshot:
// all "common" hits score the same (so N and avgdl were read together) and so come in row
// order, and a row's marker finds that row alone, never a half-indexed one.
TEST(TextIndexConcurrencyTest, ConcurrentAddAndSearch) {
  auto index = MakeIndex();
  constexpr int kWriters = 4;
  constexpr int kRowsPerWriter = 500;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kRowsPerWriter; ++i) {
        const uint64_t row = static_cast<uint64_t>(w * kRowsPerWriter + i);
        const std::string text = "common marker" + std::to_string(row) + " filler words";
        if (!index->Add(row, text).ok()) ++failures;
        if (i % 50 == 49 && !index->Remove(row)) ++failures;
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      while (!done) {
        const std::vector<ScoredRow> hits = index->Search("common", kWriters * kRowsPerWriter);
        for (size_t i = 1; i < hits.size(); ++i) {
          if (hits[i].score != hits[0].score || hits[i].row <= hits[i - 1].row) ++failures;
        }
        for (size_t i = 0; i < hits.size(); i += 97) {
          const std::vector<ScoredRow> own =
              index->Search("marker" + std::to_string(hits[i].row), 2);
          if (own.size() > 1 || (own.size() == 1 && own[0].row != hits[i].row)) ++failures;
        }
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(failures, 0);
  const size_t expected = kWriters * (kRowsPerWriter - kRowsPerWriter / 50);
  EXPECT_EQ(index->Search("common", 100000).size(), expected);
  EXPECT_EQ(index->Stats().live_rows, expected);
}

TEST(TextIndexGlobalStats, QueryStatsCountTheQueryTermsOfLiveRows) {
  auto index = MakeIndex();
  ASSERT_TRUE(index->Add(1, "red apple red").ok());
  ASSERT_TRUE(index->Add(2, "green apple").ok());
  ASSERT_TRUE(index->Add(3, "pear").ok());
  ASSERT_TRUE(index->Remove(3));
  const Bm25Stats stats = index->QueryStats("Apple RED plum apple");
  EXPECT_EQ(stats.docs, 2u);
  EXPECT_EQ(stats.total_length, 5u);
  EXPECT_EQ(stats.doc_freq,
            (std::map<std::string, uint64_t>{{"apple", 2}, {"plum", 0}, {"red", 1}}));
}

TEST(TextIndexGlobalStats, AddSumsDisjointCorpora) {
  Bm25Stats a{3, 10, {{"x", 1}, {"y", 2}}};
  a.Add(Bm25Stats{2, 7, {{"y", 1}, {"z", 2}}});
  EXPECT_EQ(a, (Bm25Stats{5, 17, {{"x", 1}, {"y", 3}, {"z", 2}}}));
}

// Rows split over two indexes (two shards), each scored with the summed statistics, score
// exactly as one index holding every row; with their own statistics they rank differently.
TEST(TextIndexGlobalStats, ShardsScoredWithSummedStatsEqualOneIndex) {
  auto whole = MakeIndex();
  auto first = MakeIndex();
  auto second = MakeIndex();
  // "rare" is rare on the first shard and common on the second, "other" the reverse.
  const std::vector<std::string> texts = {
      "rare other a", "other b c",      "other d e f", "other g",          "rare h i j k",
      "rare l",       "rare other m n", "rare o p q",  "rare r s t u v w", "rare other x"};
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(whole->Add(i, texts[i]).ok());
    ASSERT_TRUE((i < 4 ? first : second)->Add(i, texts[i]).ok());
  }
  ASSERT_TRUE(whole->Remove(9));
  ASSERT_TRUE(second->Remove(9));
  const std::string query = "rare other";
  Bm25Stats global = first->QueryStats(query);
  global.Add(second->QueryStats(query));
  EXPECT_EQ(global, whole->QueryStats(query));

  auto merged = [&](const Bm25Stats* stats) {
    std::vector<ScoredRow> hits = first->Search(query, 100, nullptr, stats);
    for (const ScoredRow& hit : second->Search(query, 100, nullptr, stats)) hits.push_back(hit);
    std::sort(hits.begin(), hits.end(), RanksBefore);
    return hits;
  };
  const std::vector<ScoredRow> expected = whole->Search(query, 100);
  ASSERT_EQ(expected.size(), 9u);
  EXPECT_EQ(merged(&global), expected);  // scores bit for bit
  EXPECT_NE(Rows(merged(nullptr)), Rows(expected));
}

// Statistics gathered before rows were added (a put between the two phases) never make idf
// negative or the scores not finite.
TEST(TextIndexGlobalStats, StaleStatsKeepScoresPositive) {
  auto index = MakeIndex();
  ASSERT_TRUE(index->Add(1, "word").ok());
  ASSERT_TRUE(index->Add(2, "word word other").ok());
  const Bm25Stats stale{1, 1, {{"word", 1}}};
  const std::vector<ScoredRow> hits = index->Search("word other", 10, nullptr, &stale);
  ASSERT_EQ(hits.size(), 2u);
  for (const ScoredRow& hit : hits) EXPECT_TRUE(std::isfinite(hit.score) && hit.score > 0);
  // Empty statistics (docs 0) mean this index's own.
  const Bm25Stats none;
  EXPECT_EQ(index->Search("word other", 10, nullptr, &none), index->Search("word other", 10));
}

}  // namespace
}  // namespace arbalest
