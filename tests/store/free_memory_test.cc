#include "store/free_memory.h"

#include <gtest/gtest.h>

namespace arbalest {
namespace {

TEST(FreeMemoryTest, RecurringReturnsWaitForTheInterval) {
  ReturnFreeMemory();
  // Within the interval of a return, recurring frees keep their memory for the next puts.
  EXPECT_FALSE(ReturnFreeMemorySometimes());
  EXPECT_FALSE(ReturnFreeMemorySometimes());
}

}  // namespace
}  // namespace arbalest
