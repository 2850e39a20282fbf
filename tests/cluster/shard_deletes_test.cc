#include "cluster/shard_deletes.h"

#include <gtest/gtest.h>

#include <cstring>

namespace arbalest {
namespace {

TEST(ShardDeletes, RemembersEachShardsIdsFromWhenTheyWereDeleted) {
  ShardDeletes deletes;
  const auto before = ShardDeletes::Clock::now();
  deletes.Note("d.__shard0", Json::array({1, 2}));
  deletes.Note("d.__shard1", Json("key-7"));
  const auto between = ShardDeletes::Clock::now();
  deletes.Note("d.__shard0", Json(3));
  EXPECT_EQ(deletes.Since("d.__shard0", before), (std::vector<Json>{1, 2, 3}));
  EXPECT_EQ(deletes.Since("d.__shard0", between), (std::vector<Json>{3}));
  EXPECT_EQ(deletes.Since("d.__shard1", before), (std::vector<Json>{"key-7"}));
  EXPECT_TRUE(deletes.Since("d.__shard2", before).empty());
}

TEST(ShardDeletes, KeysMatchTheBytesTheCatchUpComparesIdsBy) {
  const uint64_t seven = 7;
  EXPECT_EQ(ShardDeletes::KeyOf(Json(7)),
            std::string(reinterpret_cast<const char*>(&seven), sizeof(seven)));
  const int64_t minus_one = -1;
  EXPECT_EQ(ShardDeletes::KeyOf(Json(-1)),
            std::string(reinterpret_cast<const char*>(&minus_one), sizeof(minus_one)));
  EXPECT_EQ(ShardDeletes::KeyOf(Json("key-7")), "key-7");
  EXPECT_EQ(ShardDeletes::KeyOf(Json(1.5)), "");
}

TEST(ShardDeletes, APinKeepsTheIdsSinceRetentionAgoUntilUnpinned) {
  ShardDeletes deletes;
  deletes.Note("d.__shard0", Json(1));
  const auto now = ShardDeletes::Clock::now();
  const auto since = deletes.Pin("d.__shard0");
  EXPECT_LE(since, now - ShardDeletes::kRetention + std::chrono::seconds(1));
  EXPECT_GE(since, now - ShardDeletes::kRetention - std::chrono::seconds(1));
  deletes.Note("d.__shard0", Json(2));
  EXPECT_EQ(deletes.Since("d.__shard0", since), (std::vector<Json>{1, 2}));
  {
    const DeletesPinned pinned(&deletes, "d.__shard0");
    EXPECT_EQ(deletes.Since("d.__shard0", pinned.since()), (std::vector<Json>{1, 2}));
  }
  deletes.Unpin("d.__shard0", since);
  deletes.Unpin("d.__shard0", since);               // once more: nothing pinned, harmless
  const DeletesPinned none(nullptr, "d.__shard0");  // no deletes remembered: nothing to pin
  EXPECT_EQ(deletes.Since("d.__shard0", since).size(), 2u);
}

}  // namespace
}  // namespace arbalest
