// The id map of unique-id datasets (store/id_row_map.h) and the row keys it shares with the text
// index (store/row_keys.h): lookups stay right across compactions with appends between, checked
// against a model, and a compaction leaves the entries of rows it does not drop untouched.
#include "store/id_row_map.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/row_keys.h"

namespace arbalest {
namespace {

std::shared_ptr<arrow::RecordBatch> IdBatch(const std::vector<int64_t>& ids) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendValues(ids).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::int64(), false)}),
                                  static_cast<int64_t>(ids.size()),
                                  {builder.Finish().ValueOrDie()});
}

std::shared_ptr<arrow::RecordBatch> StringIdBatch(const std::vector<int64_t>& ids) {
  arrow::StringBuilder builder;
  for (const int64_t id : ids)
    EXPECT_TRUE(builder.Append("key-of-some-length-" + std::to_string(id)).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::utf8(), false)}),
                                  static_cast<int64_t>(ids.size()),
                                  {builder.Finish().ValueOrDie()});
}

std::vector<int64_t> Range(int64_t begin, int64_t end) {
  std::vector<int64_t> ids;
  for (int64_t id = begin; id < end; ++id) ids.push_back(id);
  return ids;
}

TEST(RowKeysTest, KeysOutliveCompactions) {
  const RowKeys none;
  EXPECT_TRUE(none.identity());
  EXPECT_EQ(none.KeyOf(7), 7u);
  Roaring dropped;
  dropped.addMany(3, std::vector<uint32_t>{2, 3, 8}.data());
  std::vector<uint32_t> keys;
  const std::optional<RowKeys> once = none.Compacted(dropped, &keys);
  ASSERT_TRUE(once.has_value());
  EXPECT_EQ(keys, (std::vector<uint32_t>{2, 3, 8}));
  // Rows 0 1 | 4 5 6 7 | 9 ... are rows 0 1 | 2 3 4 5 | 6 ...
  EXPECT_EQ(once->KeyOf(2), 4u);
  EXPECT_EQ(once->KeyOf(6), 9u);
  EXPECT_EQ(once->RowOf(7), 5u);
  EXPECT_EQ(once->first_after(), 6u);
  // Dropping rows 1 and 3 (keys 1 and 5) of that numbering.
  Roaring again;
  again.addMany(2, std::vector<uint32_t>{1, 3}.data());
  const std::optional<RowKeys> twice = once->Compacted(again, &keys);
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(keys, (std::vector<uint32_t>{1, 5}));
  for (const auto& [row, key] :
       std::map<uint64_t, uint64_t>{{0, 0}, {1, 4}, {2, 6}, {3, 7}, {4, 9}}) {
    EXPECT_EQ(twice->KeyOf(row), key) << row;
    EXPECT_EQ(twice->RowOf(key), row) << key;
  }
  // The older numbering is unchanged (readers of an older version keep theirs).
  EXPECT_EQ(once->KeyOf(2), 4u);
}

// Random gone keys over many rank blocks, dense and sparse stretches: KeyOf and RowOf agree
// with Roaring's own rank, key by key.
TEST(RowKeysTest, KeysAndRowsAgreeWithAPlainRank) {
  std::mt19937 random(5);
  Roaring dropped;
  for (uint32_t row = 1000; row < 300000; ++row) {
    const uint32_t per_mille = row < 100000 ? 300 : (row < 200000 ? 2 : 900);
    if (random() % 1000 < per_mille) dropped.add(row);
  }
  const std::optional<RowKeys> once = RowKeys().Compacted(dropped);
  ASSERT_TRUE(once.has_value());
  // A second compaction drops rows in between (keys interleave with the first gone ones).
  Roaring again;
  for (uint32_t row = 0; row < 150000; row += 7) again.add(row);
  const std::optional<RowKeys> keys = once->Compacted(again);
  ASSERT_TRUE(keys.has_value());
  Roaring gone = dropped;  // every gone key, numbered as keys
  std::vector<uint32_t> second;
  ASSERT_TRUE(once->Compacted(again, &second).has_value());
  gone.addMany(second.size(), second.data());
  const uint64_t live = 400000 - gone.cardinality();
  for (uint64_t row = 0; row < live; row += 3) {
    const uint64_t key = keys->KeyOf(row);
    ASSERT_FALSE(gone.contains(static_cast<uint32_t>(key))) << row;
    ASSERT_EQ(key - gone.rank(static_cast<uint32_t>(key)), row) << row;
    ASSERT_EQ(keys->RowOf(key), row) << key;
  }
}

// Many compactions, each dropping random rows of a random window of a dataset of 500k rows
// (eight spans of 2^16 keys, their edges among the dropped keys), with appends between: after
// each, the dropped rows' keys, KeyOf, RowOf, gone_count and first_after agree with a model
// (every gone key in a Roaring, ranked by Roaring), and an earlier numbering is unchanged.
TEST(RowKeysTest, ManyCompactionsAgreeWithAModel) {
  std::mt19937 random(11);
  RowKeys keys;
  Roaring gone;            // the model: every gone key
  uint64_t rows = 500000;  // rows of the current numbering
  std::optional<RowKeys> early;
  Roaring early_gone;
  for (int step = 0; step < 60; ++step) {
    const uint64_t first = random() % (rows - 20000);
    const uint64_t width = 1 + random() % 20000;
    Roaring dropped;
    for (uint64_t row = first; row < first + width; ++row) {
      if (random() % 100 < 30) dropped.add(static_cast<uint32_t>(row));
    }
    if (step % 7 == 0) dropped.add(65536 - static_cast<uint32_t>(gone.rank(65535)));  // an edge
    std::vector<uint32_t> dropped_keys;
    const std::optional<RowKeys> next = keys.Compacted(dropped, &dropped_keys);
    ASSERT_TRUE(next.has_value());
    ASSERT_EQ(dropped_keys.size(), dropped.cardinality());
    size_t k = 0;
    for (const uint32_t row : dropped) {
      // The key of a row: the smallest key not gone with `row` keys not gone below it.
      const uint32_t key = dropped_keys[k++];
      ASSERT_FALSE(gone.contains(key)) << step;
      ASSERT_EQ(key - gone.rank(key), row) << step;
    }
    gone.addMany(dropped_keys.size(), dropped_keys.data());
    keys = *next;
    rows -= dropped.cardinality();
    rows += random() % 3000;  // appended rows
    ASSERT_EQ(keys.gone_count(), gone.cardinality()) << step;
    ASSERT_EQ(keys.first_after(), gone.maximum() + 1 - gone.cardinality()) << step;
    for (uint64_t row = 0; row < rows; row += 1 + random() % 50) {
      const uint64_t key = keys.KeyOf(row);
      ASSERT_TRUE(key > std::numeric_limits<uint32_t>::max() ||
                  !gone.contains(static_cast<uint32_t>(key)))
          << step << " " << row;
      ASSERT_EQ(key - gone.rank(static_cast<uint32_t>(key)), row) << step << " " << row;
      ASSERT_EQ(keys.RowOf(key), row) << step << " " << key;
    }
    if (step == 10) {
      early = keys;
      early_gone = gone;
    }
  }
  for (uint64_t row = 0; row < 400000; row += 97) {
    const uint64_t key = early->KeyOf(row);
    ASSERT_EQ(key - early_gone.rank(static_cast<uint32_t>(key)), row) << row;
  }
}

// Gone keys in ten spans of 2^16 keys; a compaction that drops rows of one span makes a new
// chunk for that span only and shares the other nine; the memory is 2 bytes a gone key.
TEST(RowKeysTest, ACompactionCopiesOnlyTheChunksOfTheSpansItDropsFrom) {
  Roaring dropped;
  for (uint32_t row = 0; row < 10 * 65536; row += 3) dropped.add(row);
  const std::optional<RowKeys> once = RowKeys().Compacted(dropped);
  ASSERT_TRUE(once.has_value());
  ASSERT_EQ(once->chunk_count(), 10u);
  EXPECT_LT(once->bytes(), static_cast<int64_t>(dropped.cardinality() * 2 + 4096));
  // Rows of the span of keys 5 * 65536 on (key = row + the gone keys below it).
  const uint64_t row = once->RowOf(5 * 65536 + 1);
  Roaring again;
  for (uint32_t r = 0; r < 100; ++r) again.add(static_cast<uint32_t>(row) + 2 * r);
  std::vector<uint32_t> keys;
  const std::optional<RowKeys> twice = once->Compacted(again, &keys);
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(keys.front() >> 16, 5u);
  EXPECT_EQ(keys.back() >> 16, 5u);
  EXPECT_EQ(twice->chunk_count(), 10u);
  EXPECT_EQ(twice->SharedChunksForTest(*once), 9u);
  EXPECT_EQ(twice->gone_count(), once->gone_count() + 100);
}

// A numbering saved as its gone keys (GoneKeys) and loaded back (WithGone), as a snapshot does:
// the same keys for every row, the same gone keys, in the same chunks.
TEST(RowKeysTest, ANumberingSavedAsItsGoneKeysLoadsBackTheSame) {
  Roaring dropped;
  for (uint32_t row = 5; row < 3 * 65536; row += 11) dropped.add(row);
  std::optional<RowKeys> keys = RowKeys().Compacted(dropped);
  ASSERT_TRUE(keys.has_value());
  Roaring again;
  for (uint32_t row = 0; row < 100000; row += 13) again.add(row);
  keys = keys->Compacted(again);
  ASSERT_TRUE(keys.has_value());
  const Roaring gone = keys->GoneKeys();
  EXPECT_EQ(gone.cardinality(), keys->gone_count());
  const RowKeys loaded = RowKeys::WithGone(gone);
  EXPECT_EQ(loaded.gone_count(), keys->gone_count());
  EXPECT_EQ(loaded.chunk_count(), keys->chunk_count());
  EXPECT_EQ(loaded.first_after(), keys->first_after());
  for (uint64_t row = 0; row < 250000; row += 7) ASSERT_EQ(loaded.KeyOf(row), keys->KeyOf(row));
  for (uint32_t key = 0; key < 3 * 65536 + 10; ++key) {
    ASSERT_EQ(loaded.Gone(key), gone.contains(key)) << key;
  }
  EXPECT_TRUE(RowKeys::WithGone(Roaring()).identity());
  EXPECT_FALSE(RowKeys().Gone(0));
}

// A rekey (Renumbered) takes retired keys out of the key space: a row's key falls by the retired
// keys below it, gone keys that are not retired stay gone, renumbered alike, and retiring every
// gone key gives key = row. A retired key that is not gone (its row is there) is refused.
TEST(RowKeysTest, RenumberingRetiresGoneKeysAndKeepsEveryRowsPlace) {
  Roaring dropped;
  for (uint32_t row = 3; row < 2 * 65536 + 100; row += 7) dropped.add(row);
  const RowKeys keys = *RowKeys().Compacted(dropped);
  const Roaring gone = keys.GoneKeys();
  Roaring retired;  // every other gone key
  bool take = true;
  for (const uint32_t key : gone) {
    if (take) retired.add(key);
    take = !take;
  }
  std::optional<RowKeys> renumbered = keys.Renumbered(retired);
  ASSERT_TRUE(renumbered.has_value());
  EXPECT_EQ(renumbered->gone_count(), gone.cardinality() - retired.cardinality());
  for (uint64_t row = 0; row < 140000; row += 3) {
    const uint64_t key = keys.KeyOf(row);
    ASSERT_EQ(renumbered->KeyOf(row), key - retired.rank(static_cast<uint32_t>(key))) << row;
  }
  for (const uint32_t key : gone - retired) {
    ASSERT_TRUE(renumbered->Gone(key - retired.rank(key))) << key;
  }
  std::optional<RowKeys> dense = keys.Renumbered(gone);
  ASSERT_TRUE(dense.has_value());
  EXPECT_TRUE(dense->identity());
  EXPECT_EQ(dense->NextKey(1000), 1000u);
  EXPECT_TRUE(keys.Renumbered(Roaring())->GoneKeys() == gone);
  Roaring live_key = retired;
  live_key.add(static_cast<uint32_t>(keys.KeyOf(0)));  // row 0's key: not gone
  EXPECT_FALSE(keys.Renumbered(live_key).has_value());
}

// Ten segments of 100 rows (ids = rows); id 406 put again at row 1000, then 30 rows of segment 4
// (406's old row among them) are dropped: no other entry is rewritten or moved.
TEST(IdRowMapTest, RowsDeletedAsTheyAreAppendedTakeNoEntry) {
  // Rows 0..3 hold ids 10..13; rows 4..7 (an adopted segment's) repeat 10..13, but rows 4 and 6
  // are deleted as they come: ids 10 and 12 keep naming rows 0 and 2, their live rows. Rows of
  // the batch outside it (row 1) change nothing.
  for (const bool strings : {false, true}) {
    IdRowMap map;
    auto batch = [&](std::vector<int64_t> ids) {
      return strings ? StringIdBatch(ids) : IdBatch(ids);
    };
    ASSERT_TRUE(map.Assign(*batch({10, 11, 12, 13})->column(0), 0).ok());
    ASSERT_TRUE(
        map.Assign(*batch({10, 11, 12, 13})->column(0), 4, Roaring::bitmapOf(3, 1, 4, 6)).ok());
    auto rows = map.RowOfEach(*batch({10, 11, 12, 13, 14})->column(0));
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_EQ(*rows, (std::vector<int64_t>{0, 5, 2, 7, -1}));
  }
}

TEST(IdRowMapTest, ACompactionLeavesTheEntriesOfRowsItKeepsUntouched) {
  IdRowMap map;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t s = 0; s < 10; ++s) {
    batches.push_back(IdBatch(Range(100 * s, 100 * s + 100)));
    ASSERT_TRUE(map.Assign(*batches.back()->column(0), 100 * s).ok());
  }
  batches.push_back(IdBatch({406}));
  ASSERT_TRUE(map.Assign(*batches.back()->column(0), 1000).ok());
  const auto all = IdBatch(Range(0, 1000))->column(0);
  std::vector<const uint32_t*> entries;
  std::vector<uint32_t> keys;
  for (int64_t i = 0; i < 1000; ++i) {
    entries.push_back(map.EntryForTest(*all, i));
    ASSERT_NE(entries.back(), nullptr);
    keys.push_back(*entries.back());
  }
  Roaring dropped;
  for (uint32_t row = 400; row < 490; row += 3) dropped.add(row);  // 30 rows, 406 among them
  ASSERT_TRUE(map.Compacted(dropped, batches).ok());
  EXPECT_EQ(map.size(), 1000u - 29u);
  for (int64_t id = 0; id < 1000; ++id) {
    if (id != 406 && dropped.contains(static_cast<uint32_t>(id))) {
      EXPECT_EQ(map.EntryForTest(*all, id), nullptr) << id;
      continue;
    }
    // The same node, holding the same key: neither rewritten nor moved.
    EXPECT_EQ(map.EntryForTest(*all, id), entries[static_cast<size_t>(id)]) << id;
    EXPECT_EQ(*entries[static_cast<size_t>(id)], keys[static_cast<size_t>(id)]) << id;
  }
  // Lookups speak the new numbering: id 950 is row 920, id 406 row 970, id 399 row 399.
  auto replaced = map.Replaced(*IdBatch({950, 406, 399, 403, 5000})->column(0), 971);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(replaced->toString(), "{399,920,970}");
}

// The dataset as a list of ids (one per row), deleted rows marked; the latest row of each id.
struct Model {
  std::vector<int64_t> ids;
  std::vector<bool> deleted;
  std::map<int64_t, uint32_t> latest;
};

void CheckLookups(const IdRowMap& map, const Model& model, bool strings) {
  std::vector<int64_t> ids;
  for (const auto& [id, row] : model.latest) ids.push_back(id);
  ids.push_back(-1);  // never put
  const auto batch = strings ? StringIdBatch(ids) : IdBatch(ids);
  const auto first = static_cast<int64_t>(model.ids.size());
  auto replaced = map.Replaced(*batch->column(0), first);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  Roaring expected;
  for (const auto& [id, row] : model.latest) expected.add(row);
  EXPECT_EQ(replaced->toString(), expected.toString());
}

// Appends (new ids and ids put again), deletes and compactions of random ranges of rows, in
// random order: the rows a put replaces are always the model's.
void RandomHistory(bool strings) {
  std::mt19937 random(strings ? 7 : 3);
  IdRowMap map;
  Model model;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t next_id = 0;
  for (int step = 0; step < 60; ++step) {
    const int kind = static_cast<int>(random() % 4);
    if (kind <= 1 || model.ids.empty()) {  // a put: 40 rows, some ids again
      std::vector<int64_t> ids;
      for (int i = 0; i < 40; ++i) {
        if (random() % 3 == 0 && next_id > 0) {
          ids.push_back(static_cast<int64_t>(random() % static_cast<uint64_t>(next_id)));
        } else {
          ids.push_back(next_id++);
        }
      }
      const auto batch = strings ? StringIdBatch(ids) : IdBatch(ids);
      const auto first = static_cast<int64_t>(model.ids.size());
      ASSERT_TRUE(map.Assign(*batch->column(0), first).ok());
      for (size_t i = 0; i < ids.size(); ++i) {
        if (auto it = model.latest.find(ids[i]); it != model.latest.end()) {
          model.deleted[it->second] = true;
        }
        model.latest[ids[i]] = static_cast<uint32_t>(first + static_cast<int64_t>(i));
        model.ids.push_back(ids[i]);
        model.deleted.push_back(false);
      }
      batches.push_back(batch);
    } else if (kind == 2) {  // deletes (entries stay: the dataset's tombstones hide the rows)
      for (int i = 0; i < 15; ++i) model.deleted[random() % model.ids.size()] = true;
    } else {  // a compaction of the deleted rows in a random range (some segments)
      const size_t begin = random() % model.ids.size();
      const size_t end = begin + random() % (model.ids.size() - begin) + 1;
      Roaring dropped;
      for (size_t row = begin; row < end; ++row) {
        if (model.deleted[row]) dropped.add(static_cast<uint32_t>(row));
      }
      ASSERT_TRUE(map.Compacted(dropped, batches).ok());
      Model next;
      for (size_t row = 0; row < model.ids.size(); ++row) {
        if (dropped.contains(static_cast<uint32_t>(row))) continue;
        next.ids.push_back(model.ids[row]);
        next.deleted.push_back(model.deleted[row]);
      }
      for (const auto& [id, row] : model.latest) {
        if (!dropped.contains(row)) {
          next.latest[id] = row - static_cast<uint32_t>(dropped.rank(row));
        }
      }
      model = std::move(next);
      batches = {strings ? StringIdBatch(model.ids) : IdBatch(model.ids)};
    }
    ASSERT_NO_FATAL_FAILURE(CheckLookups(map, model, strings)) << "step " << step;
    EXPECT_EQ(map.size(), model.latest.size());
  }
}

TEST(IdRowMapTest, LookupsFollowCompactionsWithPutsBetweenInt64Ids) { RandomHistory(false); }
TEST(IdRowMapTest, LookupsFollowCompactionsWithPutsBetweenStringIds) { RandomHistory(true); }

// Keys past 32 bits: the map numbers its entries as rows again, whole, and stays right.
TEST(IdRowMapTest, KeysPast32BitsAreRenumberedAsRows) {
  IdRowMap map;
  const auto first = IdBatch(Range(0, 10));
  ASSERT_TRUE(map.Assign(*first->column(0), 0).ok());
  Roaring dropped;
  dropped.addRange(0, 5);
  ASSERT_TRUE(map.Compacted(dropped, {first}).ok());  // ids 5..9 at rows 0..4, keys 5..9
  const int64_t far = int64_t{std::numeric_limits<uint32_t>::max()} - 3;  // keys would pass
  ASSERT_TRUE(map.Assign(*IdBatch({20, 21})->column(0), far).ok());
  auto replaced = map.Replaced(*IdBatch({7, 21, 3})->column(0), far + 2);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  Roaring expected;
  expected.add(2);
  expected.add(static_cast<uint32_t>(far + 1));
  EXPECT_EQ(replaced->toString(), expected.toString());
}

// Gone keys as many as the entries (and at least the threshold): the map is rewritten with
// key = row, so its numbering does not keep a key for every row ever dropped; below that it
// keeps its keys. Lookups are right either way.
TEST(IdRowMapTest, ManyGoneKeysAreDroppedByRenumberingAsRows) {
  IdRowMap map;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = {IdBatch(Range(0, 10))};
  ASSERT_TRUE(map.Assign(*batches[0]->column(0), 0).ok());
  Roaring dropped;
  dropped.addRange(0, 3);  // 3 gone, 7 entries: kept
  ASSERT_TRUE(map.Compacted(dropped, batches, /*renumber_gone_keys=*/2).ok());
  EXPECT_FALSE(map.keys_are_rows());
  batches = {IdBatch(Range(3, 10))};
  dropped = Roaring();
  dropped.addRange(0, 3);  // 6 gone, 4 entries: renumbered
  ASSERT_TRUE(map.Compacted(dropped, batches, /*renumber_gone_keys=*/2).ok());
  EXPECT_TRUE(map.keys_are_rows());
  EXPECT_EQ(map.size(), 4u);
  auto rows = map.Rows(*IdBatch({6, 9, 1})->column(0));
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->toString(), Roaring::bitmapOf(2, 0, 3).toString());  // ids 6..9 at rows 0..3
  ASSERT_TRUE(map.Assign(*IdBatch({20})->column(0), 4).ok());          // appended after: key = row
  rows = map.Rows(*IdBatch({20})->column(0));
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->toString(), Roaring::bitmapOf(1, 4).toString());
}

TEST(IdRowMapTest, BadInputIsRefused) {
  IdRowMap map;
  const auto batch = IdBatch(Range(0, 10));
  ASSERT_TRUE(map.Assign(*batch->column(0), 0).ok());
  Roaring dropped;
  dropped.add(3);
  ASSERT_TRUE(map.Compacted(dropped, {batch}).ok());
  // Rows below a dropped one are not appended rows.
  auto below = map.Assign(*IdBatch({1})->column(0), 2);
  ASSERT_TRUE(below.IsInvalid());
  EXPECT_NE(below.message().find("lie below a row a compaction dropped"), std::string::npos)
      << below.message();
  // A compaction that drops rows the batches do not hold.
  Roaring past;
  past.add(40);
  auto missing = map.Compacted(past, {batch});
  ASSERT_TRUE(missing.IsInvalid());
  EXPECT_NE(missing.message().find("drops row 40 past the 10 rows"), std::string::npos)
      << missing.message();
  // Batches without ids.
  auto no_ids = arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), 10,
                                         {batch->column(0)});
  auto unnamed = map.Compacted(past, {no_ids, no_ids, no_ids, no_ids, no_ids});
  ASSERT_TRUE(unnamed.IsInvalid());
  EXPECT_NE(unnamed.message().find("no 'id' column"), std::string::npos) << unnamed.message();
  // Ids of a type the map does not take.
  auto doubles = arrow::MakeArrayFromScalar(arrow::DoubleScalar(1.5), 2).ValueOrDie();
  auto typed = map.Assign(*doubles, 9);
  ASSERT_TRUE(typed.IsInvalid());
  EXPECT_NE(typed.message().find("unique ids must be int64, uint64 or utf8"), std::string::npos)
      << typed.message();
}

}  // namespace
}  // namespace arbalest
