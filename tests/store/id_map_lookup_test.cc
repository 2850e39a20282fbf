// Id lookups through the id map of a dataset whose ids are unique (LiveRowsWithIds of a
// Dataset, Dataset::MappedRowsOf): over random histories of upserts (ids new, present, deleted
// and repeated in a batch), deletes by id, compactions (whole and of some segments), snapshots
// and restarts, with int64 and utf8 ids, they find exactly the rows that is_in over the id
// column finds in the same snapshot; searches by id and deletes by id agree with a model; a
// dataset without unique ids has no map to answer from; and readers that look ids up while
// upserts and compactions run always see each id's one live row.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "logged_store_test.h"
#include "store/id_lookup.h"
#include "store/search.h"
#include "store/search_by_id.h"

namespace arbalest {
namespace {

constexpr int32_t kDim = 4;
constexpr int64_t kSegmentRows = 64;
constexpr int64_t kIdSpace = 400;  // ids drawn from [0, kIdSpace); lookups also ask beyond

// A row's id as the dataset stores it: int64, or utf8 ("id-<n>").
std::shared_ptr<arrow::Array> IdArray(const std::vector<int64_t>& ids, bool strings) {
  if (!strings) {
    arrow::Int64Builder builder;
    EXPECT_TRUE(builder.AppendValues(ids).ok());
    return builder.Finish().ValueOrDie();
  }
  arrow::StringBuilder builder;
  for (const int64_t id : ids) EXPECT_TRUE(builder.Append("id-" + std::to_string(id)).ok());
  return builder.Finish().ValueOrDie();
}

// Rows with `ids` (version `version`) in a dataset of unique ids (`unique`) that seals a
// segment every kSegmentRows rows.
std::shared_ptr<arrow::RecordBatch> Rows(const std::vector<int64_t>& ids, int64_t version,
                                         bool strings, bool unique = true) {
  auto values = std::make_shared<arrow::FloatBuilder>();
  arrow::FixedSizeListBuilder vectors(arrow::default_memory_pool(), values, kDim);
  arrow::Int64Builder versions;
  for (const int64_t id : ids) {
    EXPECT_TRUE(vectors.Append().ok());
    for (int j = 0; j < kDim; ++j) {
      EXPECT_TRUE(values->Append(static_cast<float>(id % 97) + j / 10.0f).ok());
    }
    EXPECT_TRUE(versions.Append(version).ok());
  }
  auto metadata = arrow::key_value_metadata(
      {"arbalest.unique_id", "index.segment_max_bytes"},
      {unique ? "true" : "false", std::to_string(kSegmentRows * kDim * 4)});
  auto schema =
      arrow::schema({arrow::field("id", strings ? arrow::utf8() : arrow::int64(), false),
                     arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim)),
                     arrow::field("version", arrow::int64())},
                    metadata);
  return arrow::RecordBatch::Make(
      schema, static_cast<int64_t>(ids.size()),
      {IdArray(ids, strings), vectors.Finish().ValueOrDie(), versions.Finish().ValueOrDie()});
}

class IdMapLookupTest : public testing::LoggedStoreTest,
                        public ::testing::WithParamInterface<bool> {
 protected:
  bool strings() const { return GetParam(); }

  // Checks the map's answer for `ids` against is_in in the snapshot it came with, and against
  // the model (the live ids): the same rows, one per live id, each carrying its id.
  void CheckLookup(const Dataset& dataset, const std::vector<int64_t>& ids,
                   const std::map<int64_t, int64_t>& model) {
    const auto array = IdArray(ids, strings());
    DatasetSnapshot snapshot;
    auto mapped = LiveRowsWithIds(dataset, *array, &snapshot);
    ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
    auto scanned = LiveRowsWithIds(snapshot, *array);
    ASSERT_TRUE(scanned.ok()) << scanned.status().ToString();
    EXPECT_EQ(mapped->toString(), scanned->toString());
    std::set<int64_t> live;
    for (const int64_t id : ids) {
      if (model.contains(id)) live.insert(id);
    }
    EXPECT_EQ(mapped->cardinality(), live.size());
  }

  void CheckAll(const Dataset& dataset, const std::map<int64_t, int64_t>& model,
                std::mt19937& random) {
    // Every id at once, beyond those ever put too; then small random sets.
    std::vector<int64_t> all;
    for (int64_t id = 0; id < kIdSpace + 20; ++id) all.push_back(id);
    ASSERT_NO_FATAL_FAILURE(CheckLookup(dataset, all, model));
    std::uniform_int_distribution<int64_t> id(0, kIdSpace + 20);
    for (int round = 0; round < 5; ++round) {
      std::vector<int64_t> some(1 + random() % 8);
      for (auto& one : some) one = id(random);
      ASSERT_NO_FATAL_FAILURE(CheckLookup(dataset, some, model));
    }
    // Search by id: a live id's search succeeds, a gone one's is a KeyError.
    for (int round = 0; round < 3; ++round) {
      const int64_t one = id(random);
      SearchRequest request;
      request.k = 3;
      request.ef = 32;
      auto found = SearchDatasetById(dataset, *IdArray({one}, strings()), request);
      if (model.contains(one)) {
        EXPECT_TRUE(found.ok()) << one << ": " << found.status().ToString();
      } else {
        EXPECT_TRUE(found.status().IsKeyError()) << one << ": " << found.status().ToString();
      }
    }
  }
};

TEST_P(IdMapLookupTest, LookupsThroughTheMapMatchIsInOverRandomHistories) {
  std::mt19937 random(20261206);
  std::map<int64_t, int64_t> model;  // live id -> version
  std::uniform_int_distribution<int64_t> id(0, kIdSpace - 1);
  auto store = Open();
  std::vector<int64_t> first(100);
  for (int64_t i = 0; i < 100; ++i) first[static_cast<size_t>(i)] = i;
  auto dataset = Put(*store, "ds", Rows(first, 0, strings()));
  for (const int64_t i : first) model[i] = 0;
  int compactions = 0, restarts = 0;
  for (int64_t step = 1; step <= 120; ++step) {
    const int op = static_cast<int>(random() % 20);
    if (op < 9) {  // upsert: ids new, present or deleted, some repeated in the batch
      std::vector<int64_t> ids(1 + random() % 40);
      for (auto& one : ids) one = id(random);
      if (ids.size() > 2) ids.push_back(ids[1]);
      auto ack = store->Append(*dataset, Rows(ids, step, strings()));
      ASSERT_TRUE(ack.ok()) << ack.status().ToString();
      for (const int64_t one : ids) model[one] = step;
    } else if (op < 15) {  // delete by id
      std::vector<int64_t> ids(1 + random() % 30);
      int64_t live = 0;
      for (auto& one : ids) one = id(random);
      std::set<int64_t> distinct(ids.begin(), ids.end());
      for (const int64_t one : distinct) live += model.erase(one);
      auto deleted = store->Delete(*dataset, *IdArray(ids, strings()));
      ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
      EXPECT_EQ(*deleted, live) << step;
    } else if (op < 18) {  // a compaction of the segments past 20% deleted, or of all
      auto report = store->Compact(
          *dataset, [] { return false; }, op == 15 ? 0.0 : 0.2);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      compactions += report->reclaimed_rows > 0;
    } else if (op == 18) {
      SnapshotAll(*store);
    } else {  // a restart: the snapshot, then the log behind it
      dataset.reset();
      store.reset();
      store = Open();
      auto reopened = store->Get("ds");
      ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
      dataset = *reopened;
      ++restarts;
    }
    ASSERT_NO_FATAL_FAILURE(CheckAll(*dataset, model, random)) << "step " << step << " op " << op;
  }
  EXPECT_EQ(dataset->Snapshot().live_rows(), static_cast<int64_t>(model.size()));
  // The history did what it is meant to test.
  EXPECT_GE(compactions, 5);
  EXPECT_GE(restarts, 2);
}

INSTANTIATE_TEST_SUITE_P(IdTypes, IdMapLookupTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Utf8" : "Int64"; });

class IdMapTest : public testing::LoggedStoreTest {};

TEST_F(IdMapTest, OnlyADatasetOfUniqueIdsAnswersFromItsIdMap) {
  auto store = Open();
  auto unique = Put(*store, "unique", Rows({1, 2, 3}, 0, false));
  auto plain = Put(*store, "plain", Rows({1, 2, 2}, 0, false, /*unique=*/false));
  auto mapped = unique->MappedRowsOf(*IdArray({2, 3, 9}, false));
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  ASSERT_TRUE(mapped->has_value());
  EXPECT_EQ((*mapped)->rows.toString(), "{1,2}");
  EXPECT_EQ((*mapped)->snapshot.num_rows, 3);
  auto none = plain->MappedRowsOf(*IdArray({2}, false));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // Without a map every row carrying the id is found (ids need not be unique there).
  DatasetSnapshot snapshot;
  auto rows = LiveRowsWithIds(*plain, *IdArray({2}, false), &snapshot);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->toString(), "{1,2}");
  // Ids of a type no id map holds are refused, naming the types it does.
  arrow::Int32Builder int32;
  ASSERT_TRUE(int32.Append(2).ok());
  auto wrong = unique->MappedRowsOf(*int32.Finish().ValueOrDie());
  EXPECT_TRUE(wrong.status().IsInvalid());
  EXPECT_NE(wrong.status().message().find("int64, uint64 or utf8"), std::string::npos)
      << wrong.status().ToString();
}

// Readers look ids up while a writer upserts them over and over and compacts: each lookup's
// snapshot and map agree, so every id is found at exactly one live row, carrying that id.
TEST_F(IdMapTest, LookupsDuringUpsertsAndCompactionsSeeEachIdOnce) {
  auto store = Open();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 200; ++i) ids.push_back(i);
  auto dataset = Put(*store, "ds", Rows(ids, 0, false));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::mt19937 random(7);
    for (int64_t round = 1; round <= 60; ++round) {
      std::vector<int64_t> some;
      for (int k = 0; k < 30; ++k) some.push_back(static_cast<int64_t>(random() % 200));
      EXPECT_TRUE(store->Append(*dataset, Rows(some, round, false)).ok());
      if (round % 6 == 0) {
        EXPECT_TRUE(store->Compact(*dataset).ok());
      }
    }
    done = true;
  });
  const auto all = IdArray(ids, false);
  int64_t lookups = 0;
  // The lookups' first failure (the writer is joined before the test ends either way).
  auto lookup = [&]() -> std::string {
    DatasetSnapshot snapshot;
    auto rows = LiveRowsWithIds(*dataset, *all, &snapshot);
    if (!rows.ok()) return rows.status().ToString();
    if (rows->cardinality() != 200u) return std::to_string(rows->cardinality()) + " rows";
    // Each row carries a distinct id of the set.
    std::set<int64_t> seen;
    RowLocator locate(snapshot);
    for (const uint32_t row : *rows) {
      const RowLocation at = locate.Locate(row);
      const auto& column =
          static_cast<const arrow::Int64Array&>(*snapshot.batches[at.batch]->column(0));
      seen.insert(column.Value(at.offset));
    }
    if (seen.size() != 200u) return std::to_string(seen.size()) + " distinct ids";
    return "";
  };
  std::string failure;
  while ((!done || lookups == 0) && failure.empty()) {
    failure = lookup();
    ++lookups;
  }
  writer.join();
  EXPECT_EQ(failure, "") << "lookup " << lookups;
  EXPECT_GT(lookups, 0);
}

}  // namespace
}  // namespace arbalest
