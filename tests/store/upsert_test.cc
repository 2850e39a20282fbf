// Datasets whose ids are unique (schema option unique_id): a put replaces the rows whose ids it
// carries, repeated ids in a batch keep their last row, replay after a restart (with
// compactions and snapshots between upserts) gives the same rows, id lookups stay right across
// compactions of some segments with deletes left in others, a compaction leaves the id map's
// entries of the segments it does not rewrite untouched, the id map is charged to the memory
// budget, and bad options are refused.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataset_internals.h"
#include "logged_store_test.h"
#include "store/search.h"
#include "store/search_by_id.h"

namespace arbalest {
namespace {

constexpr int32_t kDim = 4;

// Rows with `ids`, each of version `versions[i]` (or `version`), vectors derived from the id,
// in a schema that marks ids unique (`unique`: the option's value; empty: no option).
std::shared_ptr<arrow::RecordBatch> Rows(const std::vector<int64_t>& ids,
                                         const std::vector<int64_t>& versions,
                                         const std::string& unique = "true") {
  arrow::Int64Builder id_builder, version_builder;
  EXPECT_TRUE(id_builder.AppendValues(ids).ok());
  EXPECT_TRUE(version_builder.AppendValues(versions).ok());
  auto values = std::make_shared<arrow::FloatBuilder>();
  arrow::FixedSizeListBuilder vectors(arrow::default_memory_pool(), values, kDim);
  for (const int64_t id : ids) {
    EXPECT_TRUE(vectors.Append().ok());
    for (int j = 0; j < kDim; ++j) {
      EXPECT_TRUE(values->Append(static_cast<float>(id) + j / 1000.0f).ok());
    }
  }
  std::shared_ptr<arrow::KeyValueMetadata> metadata;
  if (!unique.empty()) metadata = arrow::key_value_metadata({"arbalest.unique_id"}, {unique});
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64(), false),
                     arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim)),
                     arrow::field("version", arrow::int64())},
                    metadata);
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()),
                                  {id_builder.Finish().ValueOrDie(), vectors.Finish().ValueOrDie(),
                                   version_builder.Finish().ValueOrDie()});
}

std::shared_ptr<arrow::RecordBatch> Rows(const std::vector<int64_t>& ids, int64_t version,
                                         const std::string& unique = "true") {
  return Rows(ids, std::vector<int64_t>(ids.size(), version), unique);
}

std::vector<int64_t> Range(int64_t begin, int64_t end) {
  std::vector<int64_t> ids;
  for (int64_t id = begin; id < end; ++id) ids.push_back(id);
  return ids;
}

constexpr int64_t kSegmentRows = 100;

// Rows(ids, version) in a dataset that seals a segment every kSegmentRows rows.
std::shared_ptr<arrow::RecordBatch> SegmentRows(const std::vector<int64_t>& ids, int64_t version) {
  return Rows(ids, version)
      ->ReplaceSchemaMetadata(
          arrow::key_value_metadata({"arbalest.unique_id", "index.segment_max_bytes"},
                                    {"true", std::to_string(kSegmentRows * kDim * 4)}));
}

class UpsertTest : public testing::LoggedStoreTest {
 protected:
  static void Upsert(VectorStore& store, Dataset& dataset,
                     const std::shared_ptr<arrow::RecordBatch>& batch) {
    auto ack = store.Append(dataset, batch);
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  }

  // id -> version of every row a scan returns; an id twice fails the test.
  static std::map<int64_t, int64_t> Versions(const VectorStore& store) {
    const auto table = Contents(store, "ds");
    IdsIn(*table);  // each id once
    const auto& ids = static_cast<const arrow::Int64Array&>(*table->column(0)->chunk(0));
    const auto& versions =
        static_cast<const arrow::Int64Array&>(*table->GetColumnByName("version")->chunk(0));
    std::map<int64_t, int64_t> result;
    for (int64_t i = 0; i < table->num_rows(); ++i) result[ids.Value(i)] = versions.Value(i);
    return result;
  }

  // id -> version for ranges of `step` ids from each first id.
  static std::map<int64_t, int64_t> Expected(
      std::initializer_list<std::pair<int64_t, int64_t>> ranges_and_versions, int64_t step = 10) {
    std::map<int64_t, int64_t> expected;
    for (const auto& [first, version] : ranges_and_versions) {
      for (int64_t id = first; id < first + step; ++id) expected[id] = version;
    }
    return expected;
  }
};

TEST_F(UpsertTest, APutReplacesTheRowsWhoseIdsItCarries) {
  auto store = Open();
  auto dataset = Put(*store, "ds", Rows(Range(0, 10), 1));
  ASSERT_TRUE(dataset->layout().unique_id);
  Upsert(*store, *dataset, Rows(Range(5, 15), 2));
  EXPECT_EQ(Versions(*store), Expected({{0, 1}, {5, 2}, {10, 2}}, 5));
  const DatasetSnapshot snapshot = dataset->Snapshot();
  EXPECT_EQ(snapshot.num_rows, 20);
  EXPECT_EQ(snapshot.live_rows(), 15);
  // The replaced rows vanish from searches too, indexed or not.
  IndexRows(*dataset, 12);
  SearchRequest request;
  request.query = {7, 7.001f, 7.002f, 7.003f};
  request.k = 3;
  auto result = SearchDataset(*dataset, request);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(IdsIn(*arrow::Table::FromRecordBatches({*result}).ValueOrDie()),
            (std::set<int64_t>{6, 7, 8}));
  // A delete and a later put of the same id: the id is back once.
  ASSERT_EQ(*store->Delete(*dataset, *Ids({7})), 1);
  Upsert(*store, *dataset, Rows({7}, 3));
  EXPECT_EQ(Versions(*store).at(7), 3);
  EXPECT_EQ(dataset->Snapshot().live_rows(), 15);
}

TEST_F(UpsertTest, RepeatedIdsInABatchKeepTheirLastRow) {
  auto store = Open();
  auto dataset = Put(*store, "ds", Rows({1, 2, 1, 3, 1}, {1, 2, 3, 4, 5}));
  EXPECT_EQ(Versions(*store), (std::map<int64_t, int64_t>{{1, 5}, {2, 2}, {3, 4}}));
  Upsert(*store, *dataset, Rows({3, 3, 4}, {6, 7, 8}));
  EXPECT_EQ(Versions(*store), (std::map<int64_t, int64_t>{{1, 5}, {2, 2}, {3, 7}, {4, 8}}));
  EXPECT_EQ(dataset->Snapshot().live_rows(), 4);
}

// HeldIds::kKeep (a shard's catch-up storing rows read before the puts it received since): the
// rows of ids with a live row are left out, the others appended (a deleted id's too), the ack
// counts what was appended, a batch of held ids only logs nothing, and a restart gives the
// same rows. A dataset whose ids are not unique appends every row.
TEST_F(UpsertTest, APutThatKeepsHeldIdsLeavesTheirRowsOut) {
  std::map<int64_t, int64_t> before_restart;
  {
    auto store = Open();
    auto dataset = Put(*store, "ds", Rows(Range(0, 10), 2));
    ASSERT_EQ(*store->Delete(*dataset, *Ids({4})), 1);
    auto ack = store->Append(*dataset, Rows(Range(3, 13), 1), HeldIds::kKeep);
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    EXPECT_EQ(ack->rows, 4);  // 4 (deleted here) and 10, 11, 12
    auto expected = Expected({{0, 2}, {10, 1}}, 3);
    expected[3] = 2;
    expected[4] = 1;
    for (int64_t id = 5; id < 10; ++id) expected[id] = 2;
    EXPECT_EQ(Versions(*store), expected);
    const uint64_t lsn = dataset->last_lsn();
    ack = store->Append(*dataset, Rows({1, 11}, 0), HeldIds::kKeep);
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    EXPECT_EQ(ack->rows, 0);
    EXPECT_EQ(dataset->last_lsn(), lsn);  // nothing logged
    EXPECT_EQ(Versions(*store), expected);
    // The id map names the kept rows: an ordinary put still replaces them.
    Upsert(*store, *dataset, Rows({3, 11}, 5));
    expected[3] = expected[11] = 5;
    EXPECT_EQ(Versions(*store), expected);
    EXPECT_EQ(dataset->Snapshot().live_rows(), 13);
    before_restart = expected;
  }
  auto store = Open();
  EXPECT_EQ(Versions(*store), before_restart);

  auto other = Put(*store, "plain", Rows(Range(0, 3), 1, ""));
  ASSERT_FALSE(other->layout().unique_id);
  auto ack = store->Append(*other, Rows(Range(2, 4), 2, ""), HeldIds::kKeep);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->rows, 2);
  EXPECT_EQ(other->Snapshot().live_rows(), 5);
}

TEST_F(UpsertTest, ReplayAfterARestartGivesTheSameRows) {
  std::shared_ptr<arrow::Table> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "ds", Rows(Range(0, 30), 1));
    Upsert(*store, *dataset, Rows(Range(10, 20), 2));
    Upsert(*store, *dataset, Rows({15, 40, 15}, {3, 3, 4}));
    before = Contents(*store, "ds");
  }
  auto store = Open();
  EXPECT_TRUE(Contents(*store, "ds")->Equals(*before));
  auto dataset = *store->Get("ds");
  EXPECT_EQ(dataset->Snapshot().live_rows(), 31);
  // The id map was rebuilt by replay: later puts still replace.
  Upsert(*store, *dataset, Rows({0, 15, 40}, 5));
  auto versions = Versions(*store);
  EXPECT_EQ(versions.size(), 31u);
  EXPECT_EQ(versions.at(0), 5);
  EXPECT_EQ(versions.at(15), 5);
  EXPECT_EQ(versions.at(12), 2);
  EXPECT_EQ(versions.at(25), 1);
}

TEST_F(UpsertTest, CompactionsAndSnapshotsBetweenUpsertsReplayAlike) {
  std::map<int64_t, int64_t> before;
  {
    auto store = Open();
    auto dataset = Put(*store, "ds", Rows(Range(0, 20), 1));
    Upsert(*store, *dataset, Rows(Range(0, 10), 2));
    auto compacted = store->Compact(*dataset);
    ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
    ASSERT_EQ(compacted->reclaimed_rows, 10);
    // The id map was renumbered with the rows: these replace the compacted rows.
    Upsert(*store, *dataset, Rows(Range(5, 15), 3));
    ASSERT_EQ(SnapshotAll(*store).at(0).deleted_rows, 10);
    Upsert(*store, *dataset, Rows({0, 19}, 4));
    ASSERT_EQ(store->Compact(*dataset)->reclaimed_rows, 12);
    Upsert(*store, *dataset, Rows({1, 19}, 5));
    before = Versions(*store);
  }
  std::map<int64_t, int64_t> expected = Expected({{0, 2}, {5, 3}, {10, 3}, {15, 1}}, 5);
  expected[0] = 4;
  expected[1] = 5;
  expected[19] = 5;
  EXPECT_EQ(before, expected);
  auto store = Open();
  EXPECT_EQ(recovered_.snapshot_rows, 30);
  EXPECT_EQ(Versions(*store), expected);
  auto dataset = *store->Get("ds");
  EXPECT_EQ(dataset->Snapshot().live_rows(), 20);
  Upsert(*store, *dataset, Rows({1, 2, 6, 19}, 6));
  auto versions = Versions(*store);
  EXPECT_EQ(versions.size(), 20u);
  EXPECT_EQ(versions.at(2), 6);
  EXPECT_EQ(versions.at(6), 6);
  EXPECT_EQ(versions.at(7), 3);
}

// Unique ids in a dataset of segments of kSegmentRows rows.
class SegmentUpsertTest : public UpsertTest {
 protected:
  // Ids 0..999 in ten segments of 100 rows, all linked.
  static std::shared_ptr<Dataset> TenSegments(VectorStore& store) {
    auto dataset = Put(store, "ds", SegmentRows(Range(0, 50), 1));
    for (int64_t first = 50; first < 10 * kSegmentRows; first += 50) {
      EXPECT_TRUE(store.Append(*dataset, SegmentRows(Range(first, first + 50), 1)).ok());
    }
    EXPECT_EQ(IndexRows(*dataset, 1000), 1000);
    EXPECT_EQ(dataset->Snapshot().segments.size(), 10u);
    return dataset;
  }

  // The ids of the k nearest rows to id `id`'s (SearchDatasetById), or its error.
  static arrow::Result<std::set<int64_t>> NeighboursOf(const Dataset& dataset, int64_t id) {
    SearchRequest request;
    request.k = 5;
    request.ef = 64;
    ARROW_ASSIGN_OR_RAISE(auto result, SearchDatasetById(dataset, *Ids({id}), request));
    const auto& ids = static_cast<const arrow::Int64Array&>(*result->column(0));
    std::set<int64_t> got;
    for (int64_t i = 0; i < ids.length(); ++i) got.insert(ids.Value(i));
    return got;
  }

  // Checks the dataset against `model` (id -> version): a scan, searches by id of live and
  // deleted ids.
  static void CheckIds(const VectorStore& store, const Dataset& dataset,
                       const std::map<int64_t, int64_t>& model, const std::vector<int64_t>& gone) {
    const auto table = Contents(store, "ds");
    std::map<int64_t, int64_t> versions;
    const auto& ids = static_cast<const arrow::Int64Array&>(*table->column(0)->chunk(0));
    const auto& values =
        static_cast<const arrow::Int64Array&>(*table->GetColumnByName("version")->chunk(0));
    for (int64_t i = 0; i < table->num_rows(); ++i) {
      EXPECT_TRUE(versions.emplace(ids.Value(i), values.Value(i)).second) << ids.Value(i);
    }
    EXPECT_EQ(versions, model);
    EXPECT_EQ(dataset.Snapshot().live_rows(), static_cast<int64_t>(model.size()));
    for (const int64_t id : {int64_t{1}, int64_t{451}, int64_t{777}, int64_t{999}}) {
      if (!model.contains(id)) continue;
      auto near = NeighboursOf(dataset, id);
      ASSERT_TRUE(near.ok()) << id << ": " << near.status().ToString();
      EXPECT_EQ(near->size(), 5u) << id;
      EXPECT_FALSE(near->contains(id)) << id;
      for (const int64_t other : *near) EXPECT_TRUE(model.contains(other)) << id << " " << other;
    }
    for (const int64_t id : gone) {
      EXPECT_TRUE(NeighboursOf(dataset, id).status().IsKeyError()) << id;
    }
  }
};

TEST_F(SegmentUpsertTest, ACompactionLeavesTheIdMapEntriesOfOtherSegmentsUntouched) {
  auto store = Open();
  auto dataset = TenSegments(*store);
  // 30% of segment 4 deleted, and a row of segments 0 and 9.
  std::vector<int64_t> doomed = Range(400, 430);
  doomed.push_back(5);
  doomed.push_back(905);
  ASSERT_EQ(*store->Delete(*dataset, *Ids(doomed)), 32);
  const auto all = Ids(Range(0, 1000));
  std::vector<const uint32_t*> entries;
  std::vector<uint32_t> keys;
  {
    ReaderLock held(&DatasetInternalsForTest::id_map_mutex(*dataset));
    const IdRowMap& map = DatasetInternalsForTest::id_rows(*dataset);
    for (int64_t id = 0; id < 1000; ++id) {
      entries.push_back(map.EntryForTest(*all, id));
      ASSERT_NE(entries.back(), nullptr);
      keys.push_back(*entries.back());
    }
  }
  auto report = store->Compact(
      *dataset, [] { return false; }, /*segment_fraction=*/0.2);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->reclaimed_rows, 30);  // segment 4 only
  EXPECT_EQ(dataset->Snapshot().deleted_rows, 2);
  {
    ReaderLock held(&DatasetInternalsForTest::id_map_mutex(*dataset));
    const IdRowMap& map = DatasetInternalsForTest::id_rows(*dataset);
    EXPECT_EQ(map.size(), 970u);
    for (int64_t id = 0; id < 1000; ++id) {
      const auto i = static_cast<size_t>(id);
      if (id >= 400 && id < 430) {
        EXPECT_EQ(map.EntryForTest(*all, id), nullptr) << id;
        continue;
      }
      // The same entry holding the same key: the segments after segment 4 moved down by 30
      // rows, but their entries were not rewritten.
      EXPECT_EQ(map.EntryForTest(*all, id), entries[i]) << id;
      EXPECT_EQ(*entries[i], keys[i]) << id;
    }
  }
  // And they still name the right rows: these replace ids of every segment.
  Upsert(*store, *dataset, SegmentRows({0, 430, 650, 999}, 2));
  auto versions = Versions(*store);
  EXPECT_EQ(versions.size(), 968u);
  for (const int64_t id : {0, 430, 650, 999}) EXPECT_EQ(versions.at(id), 2) << id;
  EXPECT_EQ(versions.at(431), 1);
  EXPECT_FALSE(versions.contains(405));
}

// Rounds of puts of new ids and of ids present or deleted, deletes by id, and compactions of the
// segments past 20% deleted (deletes left in other segments), then a restart from a snapshot
// taken between rounds and the log behind it (its compaction records replayed): every id
// lookup (a put's replaced rows, search by id, delete by id) sees each id's latest row.
TEST_F(SegmentUpsertTest, IdLookupsStayRightAcrossCompactionsAndARestart) {
  std::map<int64_t, int64_t> model;
  for (int64_t id = 0; id < 1000; ++id) model[id] = 1;
  std::vector<int64_t> gone;
  auto remove = [&](VectorStore& store, Dataset& dataset, const std::vector<int64_t>& ids) {
    int64_t live = 0;
    for (const int64_t id : ids) live += model.erase(id);
    auto deleted = store.Delete(dataset, *Ids(ids));
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
    EXPECT_EQ(*deleted, live);
    gone.insert(gone.end(), ids.begin(), ids.end());
  };
  auto put = [&](VectorStore& store, Dataset& dataset, const std::vector<int64_t>& ids,
                 int64_t version) {
    Upsert(store, dataset, SegmentRows(ids, version));
    for (const int64_t id : ids) {
      model[id] = version;
      std::erase(gone, id);
    }
  };
  {
    auto store = Open();
    auto dataset = TenSegments(*store);
    for (int64_t round = 0; round < 3; ++round) {
      const int64_t version = round + 2;
      // Ids from every segment, new ids, and ids the last round deleted.
      std::vector<int64_t> ids;
      for (int64_t k = 0; k < 10; ++k) ids.push_back(k * 97 + round * 7);
      for (int64_t k = 0; k < 10; ++k) ids.push_back(1000 + 10 * round + k);
      if (round > 0) ids.insert(ids.end(), gone.begin(), gone.begin() + 3);
      put(*store, *dataset, ids, version);
      // 35 ids of one segment, and one of two others: the others stay below 20% deleted.
      const int64_t segment = 2 + 3 * round;
      std::vector<int64_t> doomed = Range(100 * segment + 10, 100 * segment + 45);
      doomed.push_back((100 * segment + 290) % 1000);
      doomed.push_back((100 * segment + 560) % 1000);
      remove(*store, *dataset, doomed);
      auto report = store->Compact(
          *dataset, [] { return false; }, 0.2);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_GE(report->reclaimed_rows, 30) << round;
      EXPECT_GT(dataset->Snapshot().deleted_rows, 0) << round;  // left outside the compaction
      ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone)) << round;
      // Ids whose rows the compaction moved down, deleted and put again.
      remove(*store, *dataset, {999 - round, 451 + round});
      put(*store, *dataset, {451 + round, 998 - round}, version);
      ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone)) << round;
      if (round == 1) SnapshotAll(*store);
    }
  }
  auto store = Open();
  EXPECT_GT(recovered_.snapshot_rows, 0);
  auto dataset = *store->Get("ds");
  ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone));
  put(*store, *dataset, {0, 1, 777, gone.front(), 5000}, 9);
  remove(*store, *dataset, {3, 451, 999, 1025});
  ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone));
  auto report = store->Compact(*dataset);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone));
  put(*store, *dataset, {2, 3, 451}, 10);
  ASSERT_NO_FATAL_FAILURE(CheckIds(*store, *dataset, model, gone));
}

TEST_F(UpsertTest, TheIdMapIsChargedToTheMemoryBudget) {
  auto store = Open();
  auto dataset = Put(*store, "ds", Rows({0}, 1));
  const int64_t charged = dataset->index_memory();
  Upsert(*store, *dataset, Rows(Range(1, 10001), 1));
  // 10,000 more ids: at least 32 bytes each (node and bucket), beside the index's reservation.
  auto plain = Put(*store, "plain", Rows(Range(0, 10001), std::vector<int64_t>(10001, 1), ""));
  EXPECT_GE(dataset->index_memory() - plain->index_memory(), 10000 * 32);
  EXPECT_GT(dataset->index_memory(), charged);
  EXPECT_EQ(store->memory().used(), dataset->Snapshot().num_bytes + dataset->index_memory() +
                                        plain->Snapshot().num_bytes + plain->index_memory());
  // Replacing ids adds no entries: the two datasets grow alike.
  const int64_t difference = dataset->index_memory() - plain->index_memory();
  Upsert(*store, *dataset, Rows(Range(1, 10001), 2));
  Upsert(*store, *plain, Rows(Range(1, 10001), std::vector<int64_t>(10000, 2), ""));
  EXPECT_EQ(dataset->index_memory() - plain->index_memory(), difference);
  ASSERT_TRUE(store->Drop("ds").ok());
  EXPECT_EQ(store->memory().used(), plain->Snapshot().num_bytes + plain->index_memory());
}

TEST_F(UpsertTest, BadOptionsAreRefused) {
  auto store = Open();
  std::shared_ptr<Dataset> dataset;
  auto bad = store->Put("ds", Rows({1}, {1}, "yes"), &dataset);
  ASSERT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.status().message().find("'unique_id' is 'yes'; it takes 'true' or 'false'"),
            std::string::npos)
      << bad.status().message();
  auto no_ids = store->Put("ds", testing::WithoutIds(Rows({1}, 1)), &dataset);
  ASSERT_TRUE(no_ids.status().IsInvalid());
  EXPECT_NE(no_ids.status().message().find("no 'id' column"), std::string::npos)
      << no_ids.status().message();
  EXPECT_FALSE(store->Get("ds").ok());  // nothing created

  Put(*store, "ds", Rows({1}, 1));
  auto disagree = store->Put("ds", Rows({2}, {1}, "false"), &dataset);
  ASSERT_TRUE(disagree.status().IsInvalid());
  EXPECT_NE(disagree.status().message().find("option 'unique_id' to 'false'"), std::string::npos)
      << disagree.status().message();
  Put(*store, "plain", Rows({1}, {1}, ""));
  auto late = store->Put("plain", Rows({2}, {1}, "TRUE"), &dataset);
  ASSERT_TRUE(late.status().IsInvalid());
  EXPECT_NE(late.status().message().find("option 'unique_id'"), std::string::npos)
      << late.status().message();
  EXPECT_EQ(Versions(*store).size(), 1u);
}

}  // namespace
}  // namespace arbalest
