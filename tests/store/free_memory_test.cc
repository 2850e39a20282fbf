#include "store/free_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

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
  // In a process of its own (re-executed, not forked): glibc maps a large block only when its
  // heap has no free chunk that fits, and the heap this suite's earlier tests left behind may
  // hold one.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // Freeing a 24 MiB block would raise glibc's mmap threshold to 24 MiB (and its trim
        // threshold to 48 MiB): a 16 MiB block would then come from the heap and stay
        // resident once freed, until a malloc_trim.
        ReturnedByFree(size_t{24} << 20);
        ReturnLargeBlocksWhenFreed();
        const int64_t sixteen = ReturnedByFree(size_t{16} << 20);
        const int64_t two = ReturnedByFree(size_t{kLargeBlockBytes} * 2);
        std::fprintf(stderr, "freeing 16 MiB returned %lld bytes, 2 MiB %lld bytes\n",
                     static_cast<long long>(sixteen), static_cast<long long>(two));
        std::exit(sixteen >= (int64_t{15} << 20) && two >= kLargeBlockBytes ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

// Four threads, alive together, each in turn writes a 16 MiB block and frees it (a received
// message, as gRPC's threads do); returns how much the resident set grew.
int64_t HeldAfterFourThreadsFreeABlockEach() {
  constexpr size_t kBlock = size_t{16} << 20;
  ReturnedByFree(size_t{24} << 20);  // glibc's thresholds rise: 16 MiB blocks come from heaps
  const int64_t before = ResidentBytes();
  constexpr int kThreads = 4;
  std::atomic<int> turn{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&turn, i, kBlock] {
      void* small = std::malloc(64);  // takes the thread's arena while the others hold theirs
      while (turn.load() != i) std::this_thread::yield();
      void* block = std::malloc(kBlock);
      std::memset(block, 1, kBlock);
      asm volatile("" : : "r"(block) : "memory");
      std::free(block);
      turn.store(i + 1);
      while (turn.load() != kThreads) std::this_thread::yield();  // alive until all are done
      std::free(small);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return ResidentBytes() - before;
}

TEST(FreeMemoryTest, ThreadsInOneArenaReuseEachOthersFreedBlocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: no thread arena yet
  // glibc's default: each thread's heap keeps the block it freed (64 MiB held, measured).
  EXPECT_EXIT(
      {
        const int64_t held = HeldAfterFourThreadsFreeABlockEach();
        std::fprintf(stderr, "arena per thread: %lld bytes held\n", static_cast<long long>(held));
        std::exit(held >= (int64_t{48} << 20) ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
  // One arena: the blocks reuse each other's memory (32 MiB held, measured: two blocks).
  EXPECT_EXIT(
      {
        ShareOneMallocArena();
        const int64_t held = HeldAfterFourThreadsFreeABlockEach();
        std::fprintf(stderr, "one arena: %lld bytes held\n", static_cast<long long>(held));
        std::exit(held <= (int64_t{40} << 20) ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace arbalest
