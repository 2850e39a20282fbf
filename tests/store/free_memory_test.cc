#include "store/free_memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace arbalest {
namespace {

// The process's resident memory (VmRSS) in bytes.
int64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

TEST(FreeMemoryTest, RecurringReturnsWaitForTheInterval) {
  ReturnFreeMemory();
  // Within the interval of a return, recurring frees keep their memory for the next puts.
  EXPECT_FALSE(ReturnFreeMemorySometimes());
  EXPECT_FALSE(ReturnFreeMemorySometimes());
}

TEST(FreeMemoryTest, ReturnFreeMemoryHandsBackWhatWasFreed) {
  // 32 MiB in blocks below malloc's mmap threshold: they come from the heap, and once freed
  // they stay resident in malloc's arena until a trim hands their pages back.
  constexpr size_t kBlock = 64 * 1024;
  constexpr int kBlocks = 512;
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kBlock]);
    std::memset(blocks.back().get(), 1, kBlock);
  }
  blocks.clear();
  const int64_t before = ResidentBytes();
  ASSERT_GT(before, 0);
  ReturnFreeMemory();
  EXPECT_LT(ResidentBytes(), before - int64_t{16} * 1024 * 1024);
}

}  // namespace
}  // namespace arbalest
