#include "store/free_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace arbalest {
namespace {

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0;
  int64_t resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Writes a block of `bytes` and frees it; returns how much the resident set shrank at the free.
int64_t ReturnedByFree(size_t bytes) {
  void* block = std::malloc(bytes);
  EXPECT_NE(block, nullptr);
  std::memset(block, 1, bytes);
  asm volatile("" : : "r"(block) : "memory");  // written for real, not optimized away
  const int64_t resident = ResidentBytes();
  std::free(block);
  return resident - ResidentBytes();
}

TEST(FreeMemoryTest, RecurringReturnsWaitForTheInterval) {
  ReturnFreeMemory();
  // Within the interval of a return, recurring frees keep their memory for the next puts.
  EXPECT_FALSE(ReturnFreeMemorySometimes());
  EXPECT_FALSE(ReturnFreeMemorySometimes());
}

TEST(FreeMemoryTest, LargeBlocksLeaveTheResidentSetWhenFreed) {
  // Freeing a 24 MiB block would raise glibc's mmap threshold to 24 MiB (and its trim
  // threshold to 48 MiB): a 16 MiB block would then come from the heap and stay resident once
  // freed, until a malloc_trim.
  ReturnedByFree(size_t{24} << 20);
  ReturnLargeBlocksWhenFreed();
  EXPECT_GE(ReturnedByFree(size_t{16} << 20), int64_t{15} << 20);
  EXPECT_GE(ReturnedByFree(size_t{kLargeBlockBytes} * 2), kLargeBlockBytes);
}

}  // namespace
}  // namespace arbalest
