// A sealed segment shipped whole from one store to another (store/segment_transfer.h) and
// appended there with its graph (Dataset::Commit of a SegmentMutation), through stores that log
// to a real WAL: the sender lists only its sealed, fully linked segments and streams one from a
// view (refusing one a compaction replaced); the receiver adopts the graph object itself (its
// rows linked at once, no index work), seals its own active segment before it, deletes the rows
// it is told to in the same commit (they stay in the segment, which keeps its graph whole),
// charges the rows and their index memory to the budget (a budget too small refuses the
// segment, nothing stored or charged), refuses a graph that does not fit the dataset, and a
// restart (replay of the log, which re-indexes the rows) holds the same live rows; puts after
// the adoption go to a new active segment.
#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "index/hnsw_file.h"
#include "logged_store_test.h"
#include "store/scan.h"
#include "store/segment_transfer.h"

namespace arbalest {
namespace {

constexpr int32_t kDim = 8;
constexpr int64_t kRowsPerSegment = 100;

// `rows` random vectors with ids first_id.., sealing segments every kRowsPerSegment rows; with
// `unique`, of a dataset whose ids are unique (a put of an id held replaces its row).
std::shared_ptr<arrow::RecordBatch> Batch(int64_t first_id, int64_t rows, uint32_t m = 16,
                                          bool unique = false) {
  std::mt19937 random(static_cast<uint32_t>(first_id) + 11);
  std::normal_distribution<float> normal;
  arrow::Int64Builder ids;
  arrow::FloatBuilder values;
  for (int64_t i = 0; i < rows; ++i) {
    EXPECT_TRUE(ids.Append(first_id + i).ok());
    for (int j = 0; j < kDim; ++j) EXPECT_TRUE(values.Append(normal(random)).ok());
  }
  auto vectors = arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(), kDim);
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()),
       arrow::field("vector", arrow::fixed_size_list(arrow::float32(), kDim))},
      arrow::key_value_metadata(
          {"index.segment_max_bytes", "index.m", "longbow.unique_id"},
          {std::to_string(kRowsPerSegment * kDim * static_cast<int64_t>(sizeof(float))),
           std::to_string(m), unique ? "true" : "false"}));
  return arrow::RecordBatch::Make(schema, rows, {ids.Finish().ValueOrDie(), vectors.ValueOrDie()});
}

class SegmentAdoptTest : public testing::LoggedStoreTest {
 protected:
  // A source store's dataset of `rows` rows in batches of 50, every row linked.
  static std::shared_ptr<Dataset> Source(VectorStore& store, int64_t rows, uint32_t m = 16,
                                         bool unique = false) {
    auto dataset = Put(store, "src", Batch(0, 50, m, unique));
    for (int64_t first = 50; first < rows; first += 50) {
      EXPECT_TRUE(store.Append(*dataset, Batch(first, 50, m, unique)).ok());
    }
    while (IndexRows(*dataset, 1 << 20) > 0) {
    }
    return dataset;
  }

  // Segment `ref` of `dataset` as the receiver reads it.
  static ReceivedSegment Ship(const Dataset& dataset, const SegmentRef& ref) {
    auto chunks = SegmentChunks(dataset, ref);
    EXPECT_TRUE(chunks.ok()) << chunks.status().ToString();
    auto received = ReceiveSegment(**chunks);
    EXPECT_TRUE(received.ok()) << received.status().ToString();
    return std::move(*received);
  }

  // The first float of the vector of each live row of `dataset`, by id (each id once).
  static std::map<int64_t, float> LiveVectors(const Dataset& dataset) {
    const DatasetSnapshot view = dataset.Snapshot();
    std::map<int64_t, float> found;
    int64_t row = 0;
    for (const auto& batch : view.batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      const auto& vectors = static_cast<const arrow::FixedSizeListArray&>(*batch->column(1));
      const auto& values = static_cast<const arrow::FloatArray&>(*vectors.values());
      for (int64_t i = 0; i < batch->num_rows(); ++i, ++row) {
        if (view.IsDeleted(row)) continue;
        EXPECT_TRUE(found.emplace(ids.Value(i), values.Value(vectors.value_offset(i))).second)
            << "id " << ids.Value(i) << " live twice";
      }
    }
    return found;
  }

  // The live ids of `dataset` (each once).
  static std::set<int64_t> LiveIds(const Dataset& dataset) {
    std::set<int64_t> ids;
    for (const auto& [id, first_value] : LiveVectors(dataset)) ids.insert(id);
    return ids;
  }
};

TEST_F(SegmentAdoptTest, OnlySealedLinkedSegmentsAreListedAndShippedFromOneView) {
  VectorStore source(0);
  auto dataset = Put(source, "src", Batch(0, 50));
  for (int64_t first = 50; first < 350; first += 50) {
    ASSERT_TRUE(source.Append(*dataset, Batch(first, 50)).ok());
  }
  // Nothing linked yet: nothing to ship.
  EXPECT_TRUE(AdoptableSegments(dataset->Snapshot()).empty());
  IndexRows(*dataset, 150);  // the first segment and half the second
  auto listed = AdoptableSegments(dataset->Snapshot());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].first_row, 0);
  EXPECT_EQ(listed[0].rows, kRowsPerSegment);
  while (IndexRows(*dataset, 1 << 20) > 0) {
  }
  listed = AdoptableSegments(dataset->Snapshot());
  ASSERT_EQ(listed.size(), 3u);  // [0, 100), [100, 200), [200, 300); [300, 350) is active
  ASSERT_TRUE(source.Delete(*dataset, *Ids({105, 110})).ok());
  ReceivedSegment received = Ship(*dataset, listed[1]);
  EXPECT_EQ(received.rows, kRowsPerSegment);
  EXPECT_EQ(received.graph->size(), static_cast<uint64_t>(kRowsPerSegment));
  EXPECT_EQ(received.deleted, Roaring::bitmapOf(2, 5, 10));
  EXPECT_EQ(static_cast<const arrow::Int64Array&>(*received.batches.front()->column(0)).Value(0),
            100);
  // A compaction replaces the segment's graph: the old one is refused, naming it.
  ASSERT_TRUE(source.Compact(*dataset).ok());
  auto gone = SegmentChunks(*dataset, listed[1]);
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.status().IsInvalid());
  EXPECT_NE(gone.status().message().find("from row 100"), std::string::npos)
      << gone.status().ToString();
}

// The ids a scan of `dataset` after segment `after` returns, or its error.
arrow::Result<std::vector<int64_t>> IdsAfter(const Dataset& dataset, const SegmentRef& after) {
  ScanOptions options;
  options.after_segment = after;
  ARROW_ASSIGN_OR_RAISE(auto reader, ScanSnapshot(dataset.Snapshot(), options));
  std::vector<int64_t> ids;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
    if (!batch) return ids;
    const auto& values = static_cast<const arrow::Int64Array&>(*batch->column(0));
    for (int64_t i = 0; i < batch->num_rows(); ++i) ids.push_back(values.Value(i));
  }
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> ids;
  for (int64_t id = from; id < to; ++id) ids.push_back(id);
  return ids;
}

TEST_F(SegmentAdoptTest, AScanAfterASegmentReadsOnlyTheRowsAfterItWhileItIsThere) {
  VectorStore source(0);
  auto dataset = Source(source, 350);
  const auto listed = AdoptableSegments(dataset->Snapshot());
  ASSERT_EQ(listed.size(), 3u);  // [0, 100), [100, 200), [200, 300); [300, 350) is active
  auto after = IdsAfter(*dataset, listed[1]);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, Range(200, 350));
  // Deleted rows after it are left out; a compaction of a later segment keeps it (the rows
  // after it are renumbered, and read as they are now).
  ASSERT_TRUE(source.Delete(*dataset, *Ids({210, 320})).ok());
  ASSERT_TRUE(source.Compact(*dataset).ok());
  after = IdsAfter(*dataset, listed[1]);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  std::vector<int64_t> expected = Range(200, 350);
  std::erase(expected, 210);
  std::erase(expected, 320);
  EXPECT_EQ(*after, expected);
  // A compaction of that segment or one before it replaces it: refused, named (rows would be
  // missed or read twice).
  ASSERT_TRUE(source.Delete(*dataset, *Ids({5})).ok());
  ASSERT_TRUE(source.Compact(*dataset).ok());
  after = IdsAfter(*dataset, listed[1]);
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(after.status().IsInvalid());
  EXPECT_NE(after.status().message().find("'after_segment' names no sealed segment"),
            std::string::npos)
      << after.status().ToString();
  EXPECT_NE(after.status().message().find("100 rows from row 100"), std::string::npos)
      << after.status().ToString();
  // Nor does it name the active segment or a graph of no segment.
  const DatasetSnapshot view = dataset->Snapshot();
  EXPECT_TRUE(IdsAfter(*dataset, SegmentRef::Of(view.segments.back())).status().IsInvalid());
  SegmentRef other = SegmentRef::Of(view.segments.front());
  other.graph += 1;
  EXPECT_TRUE(IdsAfter(*dataset, other).status().IsInvalid());
  // The compacted segment, named anew, is read after.
  auto first = IdsAfter(*dataset, SegmentRef::Of(view.segments.front()));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  expected = Range(100, 350);
  std::erase(expected, 210);
  std::erase(expected, 320);
  EXPECT_EQ(*first, expected);
}

TEST_F(SegmentAdoptTest, AMergeRefusesAScanAfterAMergedSegmentButNotAfterOneBefore) {
  VectorStore source(0);
  auto dataset = Source(source, 450);
  // Segments 1 and 2 left at 20 rows each by a compaction: the merge policy's pick.
  std::vector<int64_t> doomed;
  for (int64_t id = 100; id < 300; ++id) {
    if (id % 5 != 0) doomed.push_back(id);
  }
  ASSERT_TRUE(source.Delete(*dataset, *Ids(doomed)).ok());
  ASSERT_TRUE(source.Compact(*dataset).ok());
  const auto listed = AdoptableSegments(dataset->Snapshot());
  ASSERT_GE(listed.size(), 3u);
  ASSERT_EQ(listed[1].rows, 20);
  ASSERT_EQ(listed[2].rows, 20);
  auto before = IdsAfter(*dataset, listed[0]);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_GE(dataset->MergeSegments(/*threads=*/1, [] { return false; }).ValueOrDie().merges, 1);
  ASSERT_EQ(SealedSegmentNamed(dataset->Snapshot().segments, listed[1]), nullptr);
  // Rows keep their numbering in a merge: after the first segment, the same rows.
  auto after = IdsAfter(*dataset, listed[0]);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, *before);
  // The merged segment is gone: refused, so that the caller scans the whole dataset.
  auto merged = IdsAfter(*dataset, listed[1]);
  ASSERT_FALSE(merged.ok());
  EXPECT_TRUE(merged.status().IsInvalid()) << merged.status().ToString();
  EXPECT_NE(merged.status().message().find("20 rows from row 100"), std::string::npos)
      << merged.status().ToString();
}

TEST_F(SegmentAdoptTest, AdoptsTheGraphDeletesRowsAtOnceAndARestartKeepsThem) {
  VectorStore source(0);
  auto from = Source(source, 250);
  const auto listed = AdoptableSegments(from->Snapshot());
  ASSERT_EQ(listed.size(), 2u);

  std::set<int64_t> expected;
  {
    auto store = Open();
    auto dataset = Put(*store, "copy", Batch(1000, 30));  // an active segment of 30 rows
    const int64_t used_before = store->memory().data_bytes();
    ReceivedSegment received = Ship(*from, listed[0]);
    const HnswIndex* graph = received.graph.get();
    SegmentMutation segment{received.batches, received.graph, Roaring::bitmapOf(2, 3, 7)};
    auto adopted = store->AdoptSegment(*dataset, segment);
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    EXPECT_EQ(*adopted, kRowsPerSegment);

    const DatasetSnapshot view = dataset->Snapshot();
    ASSERT_EQ(view.segments.size(), 3u);  // its own (sealed), the adopted one, a new active one
    EXPECT_EQ(view.segments[0].rows, 30);
    EXPECT_EQ(view.segments[1].first_row, 30);
    EXPECT_EQ(view.segments[1].rows, kRowsPerSegment);
    EXPECT_EQ(view.segments[1].graph.get(), graph);  // adopted, not rebuilt
    EXPECT_EQ(view.segments[1].indexed_rows, kRowsPerSegment);
    EXPECT_EQ(view.segments[2].rows, 0);
    // Linked at once, before any index work: the 30 rows of its own wait, the adopted do not.
    EXPECT_EQ(dataset->index().indexed_rows(), kRowsPerSegment);
    EXPECT_TRUE(view.IsDeleted(30 + 3));
    EXPECT_TRUE(view.IsDeleted(30 + 7));
    // Charged: what the same rows cost when put (their bytes, their index memory).
    const int64_t charged = store->memory().data_bytes() - used_before;
    auto twin = Put(*store, "twin", Batch(1000, 30));
    const int64_t twin_before = store->memory().data_bytes();
    for (const auto& batch : received.batches) ASSERT_TRUE(store->Append(*twin, batch).ok());
    EXPECT_EQ(charged, store->memory().data_bytes() - twin_before);
    EXPECT_GT(charged, 0);

    // A second segment adopted while the active segment holds no row takes its place.
    ReceivedSegment second = Ship(*from, listed[1]);
    ASSERT_TRUE(store->AdoptSegment(*dataset, {second.batches, second.graph, Roaring()}).ok());
    EXPECT_EQ(dataset->Snapshot().segments.size(), 4u);
    // Puts go on into a new active segment, linked by the index as usual.
    ASSERT_TRUE(store->Append(*dataset, Batch(2000, 20)).ok());
    while (IndexRows(*dataset, 1 << 20) > 0) {
    }
    EXPECT_EQ(dataset->index().indexed_rows(), 30 + 2 * kRowsPerSegment + 20);

    for (int64_t id = 1000; id < 1030; ++id) expected.insert(id);
    for (int64_t id = 0; id < 2 * kRowsPerSegment; ++id) {
      if (id != 3 && id != 7) expected.insert(id);
    }
    for (int64_t id = 2000; id < 2020; ++id) expected.insert(id);
    EXPECT_EQ(LiveIds(*dataset), expected);
  }  // the store goes without a snapshot: a restart replays the log
  auto reopened = Open();
  auto dataset = reopened->Get("copy");
  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(LiveIds(**dataset), expected);
}

TEST_F(SegmentAdoptTest, ADatasetWithUniqueIdsKeepsItsNewerRowOfAnIdAndItsIdMapAcrossRestarts) {
  // A replica of a dataset whose ids are unique adopts a segment of the primary's while it
  // holds rows of some of its ids (puts it received since the copy began: newer). Those rows
  // stay, the segment's rows of their ids are deleted at once, and the id map names the live
  // row of every id, so that later puts replace, and deletes find, the right row: before and
  // after a restart from the log, and from a snapshot.
  VectorStore source(0);
  auto from = Source(source, 250, 16, /*unique=*/true);
  const auto listed = AdoptableSegments(from->Snapshot());
  ASSERT_EQ(listed.size(), 2u);
  std::map<int64_t, float> expected;
  auto check = [&](VectorStore& store, const std::string& when) {
    auto dataset = store.Get("copy");
    ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
    EXPECT_EQ(LiveVectors(**dataset), expected) << when;
  };
  {
    auto store = Open();
    auto dataset = Put(*store, "copy", Batch(1000, 30, 16, true));
    ASSERT_TRUE(store->Append(*dataset, Batch(5, 3, 16, true)).ok());  // ids 5, 6, 7, held
    ASSERT_EQ(*store->Delete(*dataset, *Ids({6})), 1);                 // 6 deleted here
    ReceivedSegment received = Ship(*from, listed[0]);                 // ids 0..99
    // The primary deleted its row of id 2 (it holds a newer one elsewhere, say).
    SegmentMutation segment{received.batches, received.graph, Roaring::bitmapOf(1, 2)};
    auto adopted = store->AdoptSegment(*dataset, segment);
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    EXPECT_EQ(*adopted, kRowsPerSegment);

    const std::map<int64_t, float> mine = LiveVectors(*Put(*store, "mine", Batch(5, 3, 16, true)));
    const std::map<int64_t, float> theirs = LiveVectors(*from);
    const std::map<int64_t, float> now = LiveVectors(*dataset);
    for (int64_t id = 1000; id < 1030; ++id) expected[id] = now.at(id);
    for (int64_t id = 0; id < kRowsPerSegment; ++id) {
      if (id != 2) expected[id] = theirs.at(id);  // 6 too: deleted here, so the primary's
    }
    expected[5] = mine.at(5);  // the rows held here stay
    expected[7] = mine.at(7);
    check(*store, "after the adoption");

    // A put of a held id replaces the held row; of an adopted id, the adopted row. A delete
    // by id finds the held row, not the segment's deleted one.
    auto again = Batch(5, 1, 16, true);
    ASSERT_TRUE(store->Append(*dataset, again).ok());
    expected[5] = LiveVectors(*Put(*store, "again", again)).at(5);
    auto renewed = Batch(50, 1, 16, true);
    ASSERT_TRUE(store->Append(*dataset, renewed).ok());
    expected[50] = LiveVectors(*Put(*store, "renewed", renewed)).at(50);
    ASSERT_EQ(*store->Delete(*dataset, *Ids({7})), 1);
    expected.erase(7);
    check(*store, "after puts and a delete");
  }  // no snapshot: a restart replays the log
  {
    auto store = Open();
    check(*store, "after a restart from the log");
    auto dataset = *store->Get("copy");
    auto put = Batch(7, 1, 16, true);  // 7 again: its only live row
    ASSERT_TRUE(store->Append(*dataset, put).ok());
    expected[7] = LiveVectors(*Put(*store, "seven", put)).at(7);
    check(*store, "after a put following the restart");
    ASSERT_FALSE(SnapshotAll(*store, "copy").empty());
  }
  auto store = Open();  // from the snapshot
  check(*store, "after a restart from the snapshot");
  auto dataset = *store->Get("copy");
  auto put = Batch(5, 2, 16, true);  // 5 and 6 again
  ASSERT_TRUE(store->Append(*dataset, put).ok());
  const auto put_alone = LiveVectors(*Put(*store, "five", put));
  expected[5] = put_alone.at(5);
  expected[6] = put_alone.at(6);
  ASSERT_EQ(*store->Delete(*dataset, *Ids({3})), 1);
  expected.erase(3);
  check(*store, "after puts and a delete following the snapshot");
}

TEST_F(SegmentAdoptTest, ASegmentPastTheMemoryLimitIsRefusedAndNothingCharged) {
  VectorStore source(0);
  auto from = Source(source, 150);
  ReceivedSegment received = Ship(*from, AdoptableSegments(from->Snapshot()).front());
  // Room for the dataset and some segments, not for hundreds.
  auto store = TryOpen(/*max_memory=*/int64_t{3} << 20);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto dataset = Put(**store, "copy", Batch(1000, 5));
  const int64_t used_before = (*store)->memory().data_bytes();
  std::vector<std::shared_ptr<arrow::RecordBatch>> many;
  for (int i = 0; i < 40; ++i) many.push_back(received.batches.front());
  // 40 times the rows: the graph no longer fits them, refused before the budget.
  auto mismatched = (*store)->AdoptSegment(*dataset, {many, received.graph, Roaring()});
  EXPECT_TRUE(mismatched.status().IsInvalid()) << mismatched.status().ToString();
  // Segments of 100 rows are adopted until the budget refuses one, which leaves the budget
  // and the rows as they were.
  int64_t adopted = 0;
  arrow::Status refused;
  for (int i = 0; i < 1000 && refused.ok(); ++i) {
    ReceivedSegment next = Ship(*from, AdoptableSegments(from->Snapshot()).front());
    const int64_t before = (*store)->memory().data_bytes();
    const int64_t rows_before = dataset->num_rows();
    auto result = (*store)->AdoptSegment(*dataset, {next.batches, next.graph, Roaring()});
    if (result.ok()) {
      ++adopted;
      continue;
    }
    refused = result.status();
    EXPECT_EQ((*store)->memory().data_bytes(), before);
    EXPECT_EQ(dataset->num_rows(), rows_before);
  }
  EXPECT_TRUE(refused.IsCapacityError()) << refused.ToString();
  EXPECT_GT(adopted, 0);
  EXPECT_GT((*store)->memory().data_bytes(), used_before);
}

TEST_F(SegmentAdoptTest, AGraphThatDoesNotFitTheDatasetIsRefused) {
  VectorStore source(0);
  auto from = Source(source, 150, /*m=*/8);
  ReceivedSegment received = Ship(*from, AdoptableSegments(from->Snapshot()).front());
  auto store = Open();
  auto dataset = Put(*store, "copy", Batch(1000, 5));  // M 16
  auto adopted = store->AdoptSegment(*dataset, {received.batches, received.graph, Roaring()});
  ASSERT_TRUE(adopted.status().IsInvalid()) << adopted.status().ToString();
  EXPECT_NE(adopted.status().message().find("M 8 (want 16)"), std::string::npos)
      << adopted.status().ToString();
  EXPECT_EQ(dataset->num_rows(), 5);
}

TEST_F(SegmentAdoptTest, AStreamThatIsNotASegmentIsRefused) {
  auto batch = Batch(0, 3);
  auto reader = arrow::RecordBatchReader::Make({batch}).ValueOrDie();
  auto received = ReceiveSegment(*reader);
  ASSERT_TRUE(received.status().IsInvalid());
  EXPECT_NE(received.status().message().find("not a segment stream"), std::string::npos);
}

}  // namespace
}  // namespace arbalest
