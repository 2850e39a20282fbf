// The merge policy (store/merge_policy.h): the smallest mergeable segment goes first, into the
// larger neighbour that fits; nothing past the segment size, nothing unsealed or unlinked.
#include "store/merge_policy.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

std::vector<MergeCandidate> Sealed(std::initializer_list<int64_t> bytes) {
  std::vector<MergeCandidate> segments;
  for (const int64_t b : bytes) segments.push_back({b, true});
  return segments;
}

TEST(MergePolicyTest, TheSmallestSegmentMergesIntoItsLargerNeighbourThatFits) {
  EXPECT_EQ(PickMerge(Sealed({50, 30, 10, 20, 60}), 100), 1u);    // 10 into 30 (its left)
  EXPECT_EQ(PickMerge(Sealed({50, 15, 10, 40, 60}), 100), 2u);    // 10 into 40 (its right)
  EXPECT_EQ(PickMerge(Sealed({95, 10, 20}), 100), 1u);            // 95 + 10 is too much: 20
  EXPECT_EQ(PickMerge(Sealed({10, 95, 30}), 100), std::nullopt);  // 10 + 95 is too much
  EXPECT_EQ(PickMerge(Sealed({10, 95, 30, 5}), 100), 2u);         // 5 into 30
}

TEST(MergePolicyTest, OnlyPairsThatFitTheSegmentSize) {
  EXPECT_EQ(PickMerge(Sealed({60, 40}), 100), 0u);  // exactly the size
  EXPECT_EQ(PickMerge(Sealed({60, 41}), 100), std::nullopt);
  EXPECT_EQ(PickMerge(Sealed({100, 0, 100}), 100), 0u);  // an empty one joins a neighbour
}

TEST(MergePolicyTest, OnlySealedLinkedSegments) {
  std::vector<MergeCandidate> segments = Sealed({10, 10, 10});
  segments[1].mergeable = false;  // e.g. the active one, or rows not linked yet
  EXPECT_EQ(PickMerge(segments, 100), std::nullopt);
  segments.push_back({10, true});
  EXPECT_EQ(PickMerge(segments, 100), 2u);
  EXPECT_EQ(PickMerge({}, 100), std::nullopt);
  EXPECT_EQ(PickMerge(Sealed({10}), 100), std::nullopt);
}

}  // namespace
}  // namespace arbalest
