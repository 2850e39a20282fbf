#include "store/memory_budget.h"

#include <gtest/gtest.h>

#include "store/free_memory.h"

namespace arbalest {
namespace {

TEST(MemoryBudgetTest, UnlimitedAcceptsEverything) {
  MemoryBudget budget(0);
  EXPECT_TRUE(budget.Charge(int64_t{1} << 50).ok());
  EXPECT_FALSE(budget.OverSoftLimit());
}

TEST(MemoryBudgetTest, RefusesPastTheLimitAndWarnsPastNinetyPercent) {
  MemoryBudget budget(1000);
  ASSERT_TRUE(budget.Charge(800).ok());
  EXPECT_FALSE(budget.OverSoftLimit());
  EXPECT_TRUE(budget.Charge(201).IsCapacityError());
  EXPECT_EQ(budget.used(), 800);
  ASSERT_TRUE(budget.Charge(150).ok());
  EXPECT_TRUE(budget.OverSoftLimit());
  budget.Release(950);
  EXPECT_EQ(budget.used(), 0);
  EXPECT_TRUE(budget.Charge(1000).ok());
}

TEST(MemoryBudgetTest, FreedMemoryHeldForReuseStaysChargedUntilHandedBack) {
  MemoryBudget budget(0);
  ASSERT_TRUE(budget.Charge(300).ok());
  budget.Release(300);    // e.g. batches replaced by their indexed form...
  budget.HoldFreed(300);  // ...whose memory the allocator keeps for the next puts
  EXPECT_EQ(budget.used(), 300);
  EXPECT_EQ(budget.held_freed(), 300);
  ReturnFreeMemory();  // a return just happened: the next few seconds keep what is freed
  budget.ReturnFreedSometimes();
  EXPECT_EQ(budget.used(), 300);
  budget.ReturnFreed();
  EXPECT_EQ(budget.used(), 0);
  EXPECT_EQ(budget.held_freed(), 0);
}

TEST(MemoryBudgetTest, AChargePastTheLimitHandsHeldMemoryBackFirst) {
  MemoryBudget budget(1000);
  ASSERT_TRUE(budget.Charge(600).ok());
  budget.HoldFreed(300);
  // 900 charged, 300 of it held freed memory: a 400-byte put fits once that is handed back.
  ASSERT_TRUE(budget.Charge(400).ok());
  EXPECT_EQ(budget.used(), 1000);
  EXPECT_EQ(budget.held_freed(), 0);
  // Nothing held any more: past the limit is refused as before.
  EXPECT_TRUE(budget.Charge(1).IsCapacityError());
}

TEST(MemoryBudgetTest, UnderALimitFreedMemoryIsHandedBackAtOnce) {
  MemoryBudget budget(1000);
  budget.HoldFreed(300);
  ReturnFreeMemory();  // even right after a return
  budget.ReturnFreedSometimes();
  EXPECT_EQ(budget.used(), 0);
  EXPECT_EQ(budget.held_freed(), 0);
}

}  // namespace
}  // namespace arbalest
