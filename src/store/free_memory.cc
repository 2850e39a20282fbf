#include "store/free_memory.h"

#include <arrow/memory_pool.h>
#include <malloc.h>

#include <atomic>
#include <chrono>

namespace arbalest {
namespace {

int64_t NowNanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// When memory was last returned, in NowNanoseconds(); 0 before the first time.
std::atomic<int64_t> last_return_ns{0};

void ReturnAll() {
  malloc_trim(0);
  arrow::default_memory_pool()->ReleaseUnused();
}

}  // namespace

void ReturnFreeMemory() {
  last_return_ns.store(NowNanoseconds(), std::memory_order_relaxed);
  ReturnAll();
}

void ReturnLargeBlocksWhenFreed() {
  // Setting it fixes it: glibc no longer moves it, nor the trim threshold (128 KiB).
  mallopt(M_MMAP_THRESHOLD, kLargeBlockBytes);
}

void ShareOneMallocArena() { mallopt(M_ARENA_MAX, 1); }

bool ReturnFreeMemorySometimes() {
  constexpr int64_t kInterval = int64_t{kReturnFreeMemoryIntervalSeconds} * 1'000'000'000;
  int64_t last = last_return_ns.load(std::memory_order_relaxed);
  const int64_t now = NowNanoseconds();
  if (last != 0 && now - last < kInterval) return false;
  // One caller of those racing here returns it.
  if (!last_return_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) return false;
  ReturnAll();
  return true;
}

}  // namespace arbalest
