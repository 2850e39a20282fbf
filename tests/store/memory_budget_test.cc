#include "store/memory_budget.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace arbalest
