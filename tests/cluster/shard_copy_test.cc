// The two passes of a catch-up (shard_copy.h) over in-memory copies of a shard: the bulk pass
// stores the rows this node lacks but never one whose id was deleted here (also when the delete
// comes while the pass runs); the reconcile pass leaves this node with the primary's rows of
// every id, except those deleted here lately. Before its row scan the bulk pass adopts the
// primary's sealed segments, deleting at once their rows held here or deleted here lately, and
// its row scan reads only the rows after them (the whole shard, none stored twice, when the
// primary refuses that); a primary that ships none is copied by rows.
#include "cluster/shard_copy.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace arbalest {
namespace {

using Row = std::pair<int64_t, std::string>;  // id, tag
using Rows = std::vector<Row>;

std::shared_ptr<arrow::Schema> RowSchema() {
  return arrow::schema({arrow::field("id", arrow::int64()), arrow::field("tag", arrow::utf8())});
}

std::shared_ptr<arrow::RecordBatch> BatchOf(const Rows& rows, bool ids_only) {
  arrow::Int64Builder ids;
  arrow::StringBuilder tags;
  for (const auto& [id, tag] : rows) {
    EXPECT_TRUE(ids.Append(id).ok());
    EXPECT_TRUE(tags.Append(tag).ok());
  }
  auto id_array = ids.Finish().ValueOrDie();
  if (ids_only) {
    return arrow::RecordBatch::Make(arrow::schema({RowSchema()->field(0)}), id_array->length(),
                                    {id_array});
  }
  return arrow::RecordBatch::Make(RowSchema(), id_array->length(),
                                  {id_array, tags.Finish().ValueOrDie()});
}

// Batches of 2 rows; `on_batch(i)` runs before batch i is handed out.
class RowsReader : public arrow::RecordBatchReader {
 public:
  RowsReader(std::vector<std::shared_ptr<arrow::RecordBatch>> batches,
             std::shared_ptr<arrow::Schema> schema, std::function<void(size_t)> on_batch)
      : batches_(std::move(batches)), schema_(std::move(schema)), on_batch_(std::move(on_batch)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (next_ == batches_.size()) {
      *batch = nullptr;
      return arrow::Status::OK();
    }
    if (on_batch_) on_batch_(next_);
    *batch = batches_[next_++];
    return arrow::Status::OK();
  }

 private:
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  std::shared_ptr<arrow::Schema> schema_;
  std::function<void(size_t)> on_batch_;
  size_t next_ = 0;
};

// A local_only scan ticket over `rows`: its `columns` ([id] or all) and its `in` filter on id.
// `unique_ids`: the scan's schema carries the option `unique_id` (a dataset whose ids are unique).
arrow::Result<ScanPart> ScanOf(const Rows& rows, const std::string& ticket,
                               std::function<void(size_t)> on_batch = nullptr,
                               bool unique_ids = false) {
  const Json json = Json::parse(ticket);
  EXPECT_TRUE(json.value("local_only", false));
  const bool ids_only = json.contains("columns");
  std::set<int64_t> wanted;
  if (json.contains("filters")) {
    for (const Json& id : json["filters"][0]["value"]) wanted.insert(id.get<int64_t>());
  }
  Rows kept;
  for (const Row& row : rows) {
    if (!json.contains("filters") || wanted.contains(row.first)) kept.push_back(row);
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (size_t at = 0; at < kept.size(); at += 2) {
    batches.push_back(
        BatchOf(Rows(kept.begin() + at, kept.begin() + std::min(kept.size(), at + 2)), ids_only));
  }
  auto schema = ids_only ? arrow::schema({RowSchema()->field(0)}) : RowSchema();
  if (unique_ids)
    schema = schema->WithMetadata(arrow::key_value_metadata({"longbow.unique_id"}, {"true"}));
  return ScanPart{std::make_shared<RowsReader>(std::move(batches), schema, std::move(on_batch)),
                  nullptr};
}

// A put into `rows`; with `keep_held` (HeldIds::kKeep into a dataset whose ids are unique), a
// row whose id `rows` holds is left out, and the ack counts the rows stored.
class RowsSink : public PutSink {
 public:
  RowsSink(Rows* rows, bool keep_held) : rows_(rows), keep_held_(keep_held) {}
  arrow::Result<Json> Append(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    const auto& ids = static_cast<const arrow::Int64Array&>(*batch->GetColumnByName("id"));
    const auto& tags = static_cast<const arrow::StringArray&>(*batch->GetColumnByName("tag"));
    int64_t stored = 0;
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      const int64_t id = ids.Value(row);
      if (keep_held_ &&
          std::any_of(rows_->begin(), rows_->end(), [&](const Row& r) { return r.first == id; })) {
        continue;
      }
      rows_->emplace_back(id, std::string(tags.GetView(row)));
      ++stored;
    }
    ++batches_;
    return Json{{"rows", stored}};
  }
  arrow::Status Finish(const arrow::Schema&) override { return arrow::Status::OK(); }
  int64_t batches() const override { return batches_; }

 private:
  Rows* rows_;
  const bool keep_held_;
  int64_t batches_ = 0;
};

// A primary's copy and this node's, in memory.
struct Copies {
  Rows primary;
  Rows own;
  ShardDeletes deletes;
  ShardFence fence;
  std::function<void(size_t)> on_primary_batch;
  // A scan after a segment (`after_segment`) reads primary[tail_from...]: the rows after the
  // segments shipped. Refused (as a primary whose segment was compacted meanwhile) with
  // `refuse_tail`.
  size_t tail_from = 0;
  bool refuse_tail = false;
  std::vector<Json> tails_asked;      // the after_segment of each such scan
  bool unique_ids = false;            // the primary's scans say that the ids are unique
  std::vector<HeldIds> sinks_opened;  // how each put into this node's copy takes held ids

  ShardCopyEnv Env() {
    ShardCopyEnv env;
    env.name = "d.__shard0";
    env.source = [this](const std::string& ticket,
                        std::chrono::milliseconds) -> arrow::Result<ScanPart> {
      const Json json = Json::parse(ticket);
      if (!json.contains("after_segment")) {
        return ScanOf(primary, ticket, on_primary_batch, unique_ids);
      }
      tails_asked.push_back(json["after_segment"]);
      if (refuse_tail) {
        return arrow::Status::Invalid("'after_segment' names no sealed segment of the dataset");
      }
      return ScanOf(Rows(primary.begin() + static_cast<std::ptrdiff_t>(tail_from), primary.end()),
                    ticket, on_primary_batch, unique_ids);
    };
    env.own = [this](const std::string& ticket, std::chrono::milliseconds) {
      return ScanOf(own, ticket);
    };
    env.local.open = [this](const std::string&, HeldIds held_ids) {
      sinks_opened.push_back(held_ids);
      return std::unique_ptr<PutSink>(
          std::make_unique<RowsSink>(&own, held_ids == HeldIds::kKeep && unique_ids));
    };
    env.local.remove = [this](const std::string&, const Json& ids) -> arrow::Result<int64_t> {
      std::set<int64_t> gone;
      for (const Json& id : ids) gone.insert(id.get<int64_t>());
      const auto before = own.size();
      std::erase_if(own, [&](const Row& row) { return gone.contains(row.first); });
      return static_cast<int64_t>(before - own.size());
    };
    env.deletes = &deletes;
    env.fence = &fence;
    return env;
  }
};

Rows Sorted(Rows rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

TEST(ShardCopy, TheBulkPassStoresWhatThisNodeLacksButNoIdDeletedHere) {
  Copies copies;
  for (int64_t id = 1; id <= 10; ++id) copies.primary.emplace_back(id, "p");
  copies.own = {{2, "own"}, {3, "own"}};
  copies.deletes.Note("d.__shard0", Json::array({5, 6}));  // before the pass
  // A delete of 9 that runs here while the pass reads the batch holding it (9, 10).
  copies.on_primary_batch = [&](size_t batch) {
    if (batch == 4) copies.deletes.Note("d.__shard0", Json(9));
  };
  auto copied = CopyBulk(copies.Env());
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 5);
  EXPECT_EQ(Sorted(copies.own),
            (Rows{{1, "p"}, {2, "own"}, {3, "own"}, {4, "p"}, {7, "p"}, {8, "p"}, {10, "p"}}));
}

TEST(ShardCopy, TheBulkPassKeepsTheRowsOfIdsPutHereMeanwhileWhenIdsAreUnique) {
  // A dataset whose ids are unique is compared by content afterwards (shard_catchup.cc), and
  // its scanned rows do not replace rows of their ids put here since the scan began (newer).
  for (const bool unique : {false, true}) {
    Copies copies;
    copies.unique_ids = unique;
    for (int64_t id = 1; id <= 4; ++id) copies.primary.emplace_back(id, "p");
    // A put of 3 reaches this node while the scan reads its first batch (1, 2).
    copies.on_primary_batch = [&](size_t batch) {
      if (batch == 0) copies.own.emplace_back(3, "new");
    };
    BulkScan scan;
    auto copied = CopyBulk(copies.Env(), nullptr, &scan);
    ASSERT_TRUE(copied.ok()) << copied.status();
    EXPECT_EQ(scan.unique_ids, unique);
    ASSERT_EQ(copies.sinks_opened.size(), 1u);
    EXPECT_EQ(copies.sinks_opened[0], unique ? HeldIds::kKeep : HeldIds::kReplace);
    if (unique) {
      EXPECT_EQ(*copied, 3);
      EXPECT_EQ(scan.rows_kept, 1);
      EXPECT_EQ(Sorted(copies.own), (Rows{{1, "p"}, {2, "p"}, {3, "new"}, {4, "p"}}));
    } else {  // ids may repeat: the scan's row is another row of 3
      EXPECT_EQ(*copied, 4);
      EXPECT_EQ(scan.rows_kept, 0);
      EXPECT_EQ(Sorted(copies.own), (Rows{{1, "p"}, {2, "p"}, {3, "new"}, {3, "p"}, {4, "p"}}));
    }
  }
}

// The primary lists one sealed segment holding `segment` (local rows `deleted` deleted there);
// this node adopts it into `copies.own`: its rows the mutation does not delete, tagged "seg".
void ShipOneSegment(Copies& copies, ShardCopyEnv& env, Rows segment, Roaring deleted,
                    SegmentMutation* adopted) {
  env.source_segments = [](std::chrono::milliseconds) -> arrow::Result<std::vector<SegmentRef>> {
    return std::vector<SegmentRef>{{0, 6, 1}};
  };
  env.source_segment = [segment, deleted](const SegmentRef&, std::chrono::milliseconds) {
    ReceivedSegment received;
    received.batches = {BatchOf(Rows(segment.begin(), segment.begin() + 3), false),
                        BatchOf(Rows(segment.begin() + 3, segment.end()), false)};
    received.deleted = deleted;
    received.rows = static_cast<int64_t>(segment.size());
    return arrow::Result<ReceivedSegment>(std::move(received));
  };
  env.local.adopt = [&copies, adopted](const std::string&,
                                       const SegmentMutation& mutation) -> arrow::Result<int64_t> {
    *adopted = mutation;
    int64_t local = 0;
    for (const auto& batch : mutation.batches) {
      const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
      for (int64_t row = 0; row < batch->num_rows(); ++row, ++local) {
        if (!mutation.deleted.contains(static_cast<uint32_t>(local))) {
          copies.own.emplace_back(ids.Value(row), "seg");
        }
      }
    }
    return local;
  };
}

TEST(ShardCopy, TheBulkPassAdoptsSegmentsDeletingHeldIdsAndIdsDeletedHere) {
  Copies copies;
  // The primary: ids 1 to 10, 4 deleted there (still in its sealed segment of ids 1 to 6).
  for (int64_t id = 1; id <= 10; ++id) {
    if (id != 4) copies.primary.emplace_back(id, "p");
  }
  copies.own = {{2, "own"}};
  copies.deletes.Note("d.__shard0", Json(5));  // deleted here lately, not yet there
  copies.tail_from = 5;                        // 1, 2, 3, 5, 6 live in the segment there
  ShardCopyEnv env = copies.Env();
  SegmentMutation adopted;
  ShipOneSegment(copies, env, {{1, "p"}, {2, "p"}, {3, "p"}, {4, "p"}, {5, "p"}, {6, "p"}},
                 Roaring::bitmapOf(1, 3), &adopted);
  Adopted report;
  auto copied = CopyBulk(env, &report);
  ASSERT_TRUE(copied.ok()) << copied.status();
  // Held here (2), deleted there (4), deleted here (5): in the segment, deleted at once.
  EXPECT_EQ(adopted.deleted, Roaring::bitmapOf(3, 1, 3, 4));
  EXPECT_EQ(report.segments(), 1);
  EXPECT_EQ(report.rows, 6);
  EXPECT_EQ(report.rows_deleted, 3);
  EXPECT_EQ(report.fallback, "");
  // The row scan stores only the rows outside the segment.
  EXPECT_EQ(*copied, 4);
  EXPECT_EQ(Sorted(copies.own), (Rows{{1, "seg"},
                                      {2, "own"},
                                      {3, "seg"},
                                      {6, "seg"},
                                      {7, "p"},
                                      {8, "p"},
                                      {9, "p"},
                                      {10, "p"}}));
}

// The primary: a sealed segment of ids 1 to 6 (4 deleted there), then 2 again (a second row of
// the id) and 7 to 10. This node holds 2 and 7 and deleted 5 lately.
void SegmentThenTail(Copies& copies) {
  copies.primary = {{1, "p"},  {2, "p"}, {3, "p"}, {5, "p"}, {6, "p"},
                    {2, "p2"}, {7, "p"}, {8, "p"}, {9, "p"}, {10, "p"}};
  copies.tail_from = 5;
  copies.own = {{2, "own"}, {7, "own"}};
  copies.deletes.Note("d.__shard0", Json(5));
}

// CopyBulk of SegmentThenTail's copies, the segment of ids 1 to 6 shipped.
arrow::Result<int64_t> CopySegmentThenTail(Copies& copies, SegmentMutation* adopted,
                                           BulkScan* scan) {
  ShardCopyEnv env = copies.Env();
  ShipOneSegment(copies, env, {{1, "p"}, {2, "p"}, {3, "p"}, {4, "p"}, {5, "p"}, {6, "p"}},
                 Roaring::bitmapOf(1, 3), adopted);
  Adopted report;
  return CopyBulk(env, &report, scan);
}

// What SegmentThenTail's copy holds afterwards, whichever scan ran: each id as often as on the
// primary (5 excepted), the segment's rows adopted, held rows kept.
const Rows kAfterSegmentThenTail = {{1, "seg"}, {2, "own"}, {2, "p2"}, {3, "seg"}, {6, "seg"},
                                    {7, "own"}, {8, "p"},   {9, "p"},  {10, "p"}};

TEST(ShardCopy, AfterAdoptionTheRowScanReadsOnlyTheRowsAfterTheLastSegment) {
  Copies copies;
  SegmentThenTail(copies);
  SegmentMutation adopted;
  BulkScan scan;
  auto copied = CopySegmentThenTail(copies, &adopted, &scan);
  ASSERT_TRUE(copied.ok()) << copied.status();
  // Held here (2: matched to the segment's row, the first of the primary's), deleted there
  // (4), deleted here (5).
  EXPECT_EQ(adopted.deleted, Roaring::bitmapOf(3, 1, 3, 4));
  ASSERT_EQ(copies.tails_asked.size(), 1u);
  EXPECT_EQ(copies.tails_asked[0], (Json{{"first_row", 0}, {"rows", 6}, {"graph", "1"}}));
  EXPECT_EQ(scan.from_row, 6);
  EXPECT_EQ(scan.rows, 5);  // the tail only
  EXPECT_GT(scan.bytes, 0);
  EXPECT_EQ(scan.fallback, "");
  // The tail's second row of 2 is stored (this node's row of 2 was matched to the segment's),
  // 7 is held: 2, 8, 9, 10.
  EXPECT_EQ(*copied, 4);
  EXPECT_EQ(Sorted(copies.own), kAfterSegmentThenTail);
}

TEST(ShardCopy, ARefusedScanAfterTheSegmentReadsTheWholeShardStoringNoAdoptedRowTwice) {
  Copies copies;
  SegmentThenTail(copies);
  copies.refuse_tail = true;  // the primary compacted or merged the segment since
  SegmentMutation adopted;
  BulkScan scan;
  auto copied = CopySegmentThenTail(copies, &adopted, &scan);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(copies.tails_asked.size(), 1u);
  EXPECT_EQ(scan.from_row, 0);
  EXPECT_EQ(scan.rows, 10);  // the whole shard
  EXPECT_NE(scan.fallback.find("names no sealed segment"), std::string::npos) << scan.fallback;
  EXPECT_EQ(*copied, 4);
  EXPECT_EQ(Sorted(copies.own), kAfterSegmentThenTail);
}

TEST(ShardCopy, APrimaryWithoutSegmentShippingIsCopiedByRows) {
  Copies copies;
  for (int64_t id = 1; id <= 6; ++id) copies.primary.emplace_back(id, "p");
  ShardCopyEnv env = copies.Env();
  SegmentMutation adopted;
  ShipOneSegment(copies, env, copies.primary, Roaring(), &adopted);
  env.source_segments = [](std::chrono::milliseconds) -> arrow::Result<std::vector<SegmentRef>> {
    return arrow::Status::NotImplemented("unknown action 'shard-segments'");
  };
  Adopted report;
  auto copied = CopyBulk(env, &report);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(report.segments(), 0);
  EXPECT_NE(report.fallback.find("unknown action 'shard-segments'"), std::string::npos);
  EXPECT_EQ(*copied, 6);
  EXPECT_EQ(Sorted(copies.own), copies.primary);
}

TEST(ShardCopy, TheReconcilePassLeavesThePrimarysRowsOfEveryIdButThoseDeletedHereLately) {
  Copies copies;
  copies.primary = {{1, "p1"}, {2, "p2a"}, {2, "p2b"}, {3, "p3"}, {4, "p4"}, {5, "p5"}, {7, "p7"}};
  // 1 twice (a put the bulk pass stored again), 2 once, 3 as on the primary, 4 and 5 missing,
  // 6 surplus (deleted on the primary, not yet here), 7 deleted here lately (not yet there).
  copies.own = {{1, "p1"}, {1, "p1"}, {2, "p2a"}, {3, "own3"}, {6, "own6"}};
  copies.deletes.Note("d.__shard0", Json(7));
  auto reconciled = Reconcile(copies.Env());
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->ids, 6);     // distinct ids of the primary
  EXPECT_EQ(reconciled->differ, 5);  // 1, 2, 4, 5, 6
  EXPECT_EQ(reconciled->removed, 4);
  EXPECT_EQ(reconciled->copied, 5);
  // Id 3: as many rows on both, not compared further (the documented limit of repeated ids).
  EXPECT_EQ(Sorted(copies.own),
            (Rows{{1, "p1"}, {2, "p2a"}, {2, "p2b"}, {3, "own3"}, {4, "p4"}, {5, "p5"}}));
}

TEST(ShardCopy, AReconcileWithNothingHereCopiesEverything) {
  Copies copies;
  copies.primary = {{1, "a"}, {2, "b"}, {3, "c"}};
  auto env = copies.Env();
  env.own = [](const std::string&, std::chrono::milliseconds) -> arrow::Result<ScanPart> {
    return arrow::Status::KeyError("no dataset");
  };
  auto reconciled = Reconcile(env);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->copied, 3);
  EXPECT_EQ(reconciled->removed, 0);
  EXPECT_EQ(Sorted(copies.own), copies.primary);
}

// The primary's answer to action shard-digest over `rows`.
arrow::Result<Json> DigestOf(const Rows& rows, const std::vector<int32_t>* ids_of,
                             int32_t buckets) {
  ARROW_ASSIGN_OR_RAISE(ScanPart part, ScanOf(rows, R"({"local_only":true,"columns":["id"]})"));
  ShardDigestRequest request;
  request.buckets = buckets;
  if (ids_of) request.ids_of.emplace(ids_of->begin(), ids_of->end());
  return AnswerShardDigest(request, *part.reader);
}

// Copies with digests: the primary's of 64 buckets.
ShardCopyEnv WithDigests(Copies& copies, int* digest_calls) {
  ShardCopyEnv env = copies.Env();
  env.digest_buckets = 64;
  env.source_digest = [&copies, digest_calls](const std::vector<int32_t>* ids_of,
                                              std::chrono::milliseconds) {
    ++*digest_calls;
    return DigestOf(copies.primary, ids_of, 64);
  };
  return env;
}

TEST(ShardCopy, WithDigestsTheReconcilePassReadsOnlyTheIdsOfTheBucketsThatDiffer) {
  Copies copies;
  for (int64_t id = 0; id < 2000; ++id) copies.primary.emplace_back(id, "p");
  copies.own = copies.primary;
  // 5 missing here, 1500 twice here, 9999 only here, 7 deleted here lately (not yet there).
  std::erase_if(copies.own, [](const Row& row) { return row.first == 5 || row.first == 7; });
  copies.own.emplace_back(1500, "p");
  copies.own.emplace_back(9999, "own");
  copies.deletes.Note("d.__shard0", Json(7));
  int digest_calls = 0;
  auto reconciled = Reconcile(WithDigests(copies, &digest_calls));
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(digest_calls, 2);  // the table, then the ids of the buckets that differ
  EXPECT_EQ(reconciled->buckets, 64);
  EXPECT_GE(reconciled->buckets_differ, 1);
  EXPECT_LE(reconciled->buckets_differ, 4);
  EXPECT_EQ(reconciled->differ, 3);  // 5, 1500, 9999; not 7
  // About 2 x 2000 / 64 ids per bucket that differs, far fewer than the 4000 of both copies.
  EXPECT_LT(reconciled->ids_read, 4 * 2 * 2000 / 64 * 2);
  EXPECT_GT(reconciled->ids_read, 0);
  Rows expected = copies.primary;
  std::erase_if(expected, [](const Row& row) { return row.first == 7; });
  EXPECT_EQ(Sorted(copies.own), Sorted(expected));
  // Nothing differs any more (but 7): only the table is asked for.
  digest_calls = 0;
  reconciled = Reconcile(WithDigests(copies, &digest_calls));
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->differ, 0);
  EXPECT_LE(reconciled->buckets_differ, 1);  // 7's
}

TEST(ShardCopy, WithMostBucketsDifferentTheReconcilePassComparesEveryId) {
  Copies copies;
  for (int64_t id = 0; id < 500; ++id) copies.primary.emplace_back(id, "p");
  int digest_calls = 0;
  auto reconciled = Reconcile(WithDigests(copies, &digest_calls));
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(digest_calls, 1);
  EXPECT_GT(reconciled->buckets_differ, 64 / kMostDifferingShare);
  EXPECT_EQ(reconciled->ids_read, 500);
  EXPECT_EQ(Sorted(copies.own), copies.primary);
}

TEST(ShardCopy, APrimaryWithoutDigestsHasEveryIdCompared) {
  // A node of a build before digests: the action unknown, or refused to the cluster token.
  for (const arrow::Status& refused :
       {arrow::Status::NotImplemented("unknown action 'shard-digest'"),
        arrow::Status::IOError("token 'nodes' has role cluster: it may only make the calls ",
                               "between cluster nodes (read calls with local_only, ",
                               "shard-fence), not action 'shard-digest'")}) {
    Copies copies;
    for (int64_t id = 0; id < 100; ++id) copies.primary.emplace_back(id, "p");
    copies.own = {{3, "p"}, {200, "own"}};
    ShardCopyEnv env = copies.Env();
    env.source_digest = [&](const std::vector<int32_t>*,
                            std::chrono::milliseconds) -> arrow::Result<Json> { return refused; };
    auto reconciled = Reconcile(env);
    ASSERT_TRUE(reconciled.ok()) << reconciled.status();
    EXPECT_EQ(reconciled->buckets, 0);
    EXPECT_EQ(reconciled->ids_read, 102);
    EXPECT_EQ(Sorted(copies.own), copies.primary);
  }
  // Any other failure of the primary's is the reconcile's.
  Copies copies;
  ShardCopyEnv env = copies.Env();
  env.source_digest = [](const std::vector<int32_t>*,
                         std::chrono::milliseconds) -> arrow::Result<Json> {
    return arrow::Status::IOError("the primary is gone");
  };
  EXPECT_EQ(Reconcile(env).status().message(), "the primary is gone");
}

TEST(ShardCopy, BeforeTheFencesTheReconcilePassCopiesNoIdDeletedHereMeanwhile) {
  Copies copies;
  for (int64_t id = 0; id < 1000; ++id) copies.primary.emplace_back(id, "p");
  copies.own = copies.primary;
  std::erase_if(copies.own, [](const Row& row) { return row.first == 3 || row.first == 4; });
  // A delete of 4 that runs here while the pass fetches the primary's rows (before the
  // primary's part of it ran).
  copies.on_primary_batch = [&](size_t) { copies.deletes.Note("d.__shard0", Json(4)); };
  int digest_calls = 0;
  auto reconciled = Reconcile(WithDigests(copies, &digest_calls), /*fenced=*/false);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->copied, 1);  // 3
  Rows expected = copies.primary;
  std::erase_if(expected, [](const Row& row) { return row.first == 4; });
  EXPECT_EQ(Sorted(copies.own), Sorted(expected));
}

}  // namespace
// The primary's answer to a version 2 (content) shard-digest over `rows`.
arrow::Result<Json> ContentDigestOf(const Rows& rows, const std::vector<int32_t>* ids_of) {
  ARROW_ASSIGN_OR_RAISE(ScanPart part, ScanOf(rows, R"({"local_only":true})"));
  ShardDigestRequest request;
  request.buckets = 64;
  request.version = kDigestVersionContent;
  if (ids_of) request.ids_of.emplace(ids_of->begin(), ids_of->end());
  return AnswerShardDigest(request, *part.reader);
}

ShardCopyEnv WithContentDigests(Copies& copies) {
  ShardCopyEnv env = copies.Env();
  env.digest_buckets = 64;
  env.source_content_digest = [&copies](const std::vector<int32_t>* ids_of,
                                        std::chrono::milliseconds) {
    return ContentDigestOf(copies.primary, ids_of);
  };
  return env;
}

// A copy kept from before this node was away: 2000 rows, of which 5 deleted on the primary
// since, 5 put again there with other contents (same ids, same counts) and 5 new there.
void KeptCopies(Copies& copies) {
  for (int64_t id = 0; id < 2000; ++id) copies.own.emplace_back(id, "old");
  copies.primary = copies.own;
  std::erase_if(copies.primary, [](const Row& row) { return row.first % 400 == 1; });
  for (Row& row : copies.primary) {
    if (row.first % 400 == 2) row.second = "put again";
  }
  for (int64_t id = 5000; id < 5005; ++id) copies.primary.emplace_back(id, "new");
}

TEST(ShardCopy, WithContentDigestsTheReconcileReplacesRowsPutAgainWithOtherContents) {
  Copies copies;
  KeptCopies(copies);
  // Without content, ids only: the rows put again go unseen.
  Copies by_ids;
  KeptCopies(by_ids);
  int digest_calls = 0;
  ASSERT_TRUE(Reconcile(WithDigests(by_ids, &digest_calls)).ok());
  EXPECT_NE(Sorted(by_ids.own), Sorted(by_ids.primary));
  ShardCopyEnv env = WithContentDigests(copies);
  env.content = true;
  auto reconciled = Reconcile(env);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->differ, 15);
  EXPECT_EQ(reconciled->copied, 10);   // put again, new
  EXPECT_EQ(reconciled->removed, 10);  // deleted, old contents
  EXPECT_LE(reconciled->buckets_differ, 15);
  EXPECT_LT(reconciled->ids_read, 2 * 2000 / 4);  // the differing buckets' rows only
  EXPECT_EQ(Sorted(copies.own), Sorted(copies.primary));
  reconciled = Reconcile(env);  // nothing differs any more
  ASSERT_TRUE(reconciled.ok());
  EXPECT_EQ(reconciled->buckets_differ, 0);
  EXPECT_EQ(reconciled->differ, 0);
}

// Ids repeated on purpose: the bulk pass skips one scanned row of an id per row of it held here,
// whichever it is, so a copy holding b (a put received as a syncing replica) of a primary's
// {a, b} stores b again and lacks a. Ids and counts agree; content digests see it, and the
// reconcile replaces the id's rows by the primary's.
TEST(ShardCopy, ARepeatedIdsRowsThatTheBulkPassMatchedWronglyAreReplacedByContent) {
  const auto copied_wrongly = [](Copies& copies) {
    copies.primary = {{1, "a"}, {1, "b"}, {2, "p"}};
    copies.own = {{1, "b"}};
    ASSERT_TRUE(CopyBulk(copies.Env()).ok());
    ASSERT_EQ(Sorted(copies.own), (Rows{{1, "b"}, {1, "b"}, {2, "p"}}));
  };
  Copies by_ids;
  copied_wrongly(by_ids);
  int digest_calls = 0;
  auto reconciled = Reconcile(WithDigests(by_ids, &digest_calls));
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->differ, 0);  // unseen
  Copies by_content;
  copied_wrongly(by_content);
  ShardCopyEnv env = WithContentDigests(by_content);
  env.content = true;
  reconciled = Reconcile(env);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->differ, 1);
  EXPECT_EQ(Sorted(by_content.own), Sorted(by_content.primary));
}

// The probe before a catch-up's reconciles asks for the ids of no bucket:
// an answer of a few bytes, not the whole table; a primary of a build before content digests
// answers false, saying why; other failures are the probe's.
TEST(ShardCopy, TheContentDigestProbeAsksForNoBucketsIds) {
  Copies copies;
  KeptCopies(copies);
  ShardCopyEnv env = WithContentDigests(copies);
  std::vector<std::optional<std::vector<int32_t>>> asked;
  env.source_content_digest = [&](const std::vector<int32_t>* ids_of,
                                  std::chrono::milliseconds) -> arrow::Result<Json> {
    asked.push_back(ids_of ? std::optional(*ids_of) : std::nullopt);
    return ContentDigestOf(copies.primary, ids_of);
  };
  std::string why_not;
  auto offers = SourceOffersContentDigests(env, &why_not);
  ASSERT_TRUE(offers.ok()) << offers.status();
  EXPECT_TRUE(*offers);
  ASSERT_EQ(asked.size(), 1u);
  ASSERT_TRUE(asked[0].has_value());
  EXPECT_TRUE(asked[0]->empty());
  auto answer = ContentDigestOf(copies.primary, &*asked[0]);
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->at("ids").empty());  // no id, no bucket sums
  EXPECT_FALSE(answer->contains("sums"));

  env.source_content_digest = [](const std::vector<int32_t>*,
                                 std::chrono::milliseconds) -> arrow::Result<Json> {
    return arrow::Status::Invalid("unknown key 'version' in shard-digest");
  };
  offers = SourceOffersContentDigests(env, &why_not);
  ASSERT_TRUE(offers.ok()) << offers.status();
  EXPECT_FALSE(*offers);
  EXPECT_NE(why_not.find("the primary has no content digests"), std::string::npos) << why_not;
  env.source_content_digest = [](const std::vector<int32_t>*,
                                 std::chrono::milliseconds) -> arrow::Result<Json> {
    return arrow::Status::IOError("the primary is gone");
  };
  EXPECT_EQ(SourceOffersContentDigests(env, &why_not).status().message(), "the primary is gone");
}

// The reconcile removes this node's rows of an id that differs, then stores the primary's by a
// put that keeps held ids: a put of the id that reaches this node in between is the newer row
// and stays, in a dataset whose ids are unique.
TEST(ShardCopy, APutOfAnIdBetweenTheReconcilesRemovalAndItsCopyStays) {
  Copies copies;
  copies.unique_ids = true;
  copies.primary = {{1, "p"}, {2, "p"}};
  copies.own = {{1, "old"}, {2, "p"}};
  ShardCopyEnv env = WithContentDigests(copies);
  env.content = true;
  const auto remove = env.local.remove;
  env.local.remove = [&](const std::string& name, const Json& ids) -> arrow::Result<int64_t> {
    auto removed = remove(name, ids);
    copies.own.emplace_back(1, "newer");
    return removed;
  };
  auto reconciled = Reconcile(env, /*fenced=*/false);
  ASSERT_TRUE(reconciled.ok()) << reconciled.status();
  EXPECT_EQ(reconciled->differ, 1);
  EXPECT_EQ(reconciled->removed, 1);
  EXPECT_EQ(copies.sinks_opened, std::vector<HeldIds>{HeldIds::kKeep});
  EXPECT_EQ(Sorted(copies.own), (Rows{{1, "newer"}, {2, "p"}}));
}

TEST(ShardCopy, AKeptCopyIsKeptWhenLittleDiffersElsePurged) {
  Copies copies;
  KeptCopies(copies);
  auto plan = PlanKeptCopy(WithContentDigests(copies));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->keep);
  EXPECT_EQ(plan->rows, 2000);
  EXPECT_EQ(plan->buckets, 64);
  EXPECT_GE(plan->buckets_differ, 1);
  EXPECT_GE(plan->rows_differ, plan->buckets_differ);  // 15 ids changed, some share a bucket
  EXPECT_LE(plan->rows_differ, 30);
  EXPECT_EQ(plan->reason, "");
  // Too far behind: most of the primary's rows changed.
  for (Row& row : copies.primary) row.second = "changed";
  plan = PlanKeptCopy(WithContentDigests(copies));
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->keep);
  EXPECT_NE(plan->reason.find("too far behind"), std::string::npos) << plan->reason;
  // A primary of a build before content digests (or before digests) cannot tell: purged.
  for (const arrow::Status& refused :
       {arrow::Status::Invalid("unknown key 'version' in shard-digest (known keys: dataset, ",
                               "shard, buckets, ids_of, local_only)"),
        arrow::Status::NotImplemented("unknown action 'shard-digest'")}) {
    ShardCopyEnv env = copies.Env();
    env.source_content_digest = [&](const std::vector<int32_t>*,
                                    std::chrono::milliseconds) -> arrow::Result<Json> {
      return refused;
    };
    plan = PlanKeptCopy(env);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_FALSE(plan->keep);
    EXPECT_NE(plan->reason.find("the primary has no content digests"), std::string::npos);
  }
  // Other failures are the plan's.
  ShardCopyEnv env = copies.Env();
  env.source_content_digest = [](const std::vector<int32_t>*,
                                 std::chrono::milliseconds) -> arrow::Result<Json> {
    return arrow::Status::IOError("the primary is gone");
  };
  EXPECT_EQ(PlanKeptCopy(env).status().message(), "the primary is gone");
  // A purge removes every row of the copy.
  copies.own.emplace_back(7, "twice");
  auto purged = PurgeCopy(copies.Env());
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2001);
  EXPECT_TRUE(copies.own.empty());
}

}  // namespace arbalest
