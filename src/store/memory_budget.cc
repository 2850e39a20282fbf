#include "store/memory_budget.h"

#include "store/free_memory.h"

namespace arbalest {

arrow::Status MemoryBudget::Charge(int64_t bytes, std::string_view what) {
  if (limit_ > 0 && used() + bytes > limit_ && held_freed() > 0) ReturnFreed();
  int64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (limit_ > 0 && used + bytes > limit_) {
      return arrow::Status::CapacityError("memory limit reached: ", used,
                                          " bytes in use (datasets, rows and their indexes) + ",
                                          bytes, " bytes for ", what, " > --max-memory ", limit_,
                                          " bytes; delete data or raise --max-memory");
    }
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return arrow::Status::OK();
}

arrow::Status MemoryBudget::Charge(int64_t bytes, ChargeMode mode, std::string_view what) {
  if (mode == ChargeMode::kRefusable) return Charge(bytes, what);
  Adjust(bytes);
  return arrow::Status::OK();
}

void MemoryBudget::HoldFreed(int64_t bytes) {
  held_freed_.fetch_add(bytes, std::memory_order_relaxed);
  Adjust(bytes);
}

void MemoryBudget::ReturnFreedSometimes() {
  // What is held from here on stays charged until a later return.
  const int64_t held = held_freed_.exchange(0, std::memory_order_relaxed);
  if (ReturnFreeMemorySometimes()) {
    Release(held);
  } else {
    held_freed_.fetch_add(held, std::memory_order_relaxed);
  }
}

void MemoryBudget::ReturnFreed() {
  const int64_t held = held_freed_.exchange(0, std::memory_order_relaxed);
  ReturnFreeMemory();
  Release(held);
}

bool MemoryBudget::OverSoftLimit() const { return limit_ > 0 && used() * 10 > limit_ * 9; }

}  // namespace arbalest
