#include "store/memory_budget.h"

#include <utility>

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
  MutexLock lock(&held_mutex_);
  held_freed_ += bytes;
  Adjust(bytes);
}

void MemoryBudget::ReturnFreedSometimes() {
  // Under a limit, the process's resident memory is what the limit bounds: memory freed
  // outside the budget's sight (index building's scratch, gRPC's buffers) goes back at once,
  // as it did before frees were held for reuse.
  if (limit_ > 0) return ReturnFreed();
  MutexLock lock(&held_mutex_);
  if (!ReturnFreeMemorySometimes()) return;
  Release(held_freed_);
  held_freed_ = 0;
}

void MemoryBudget::ReturnFreed() {
  MutexLock lock(&held_mutex_);
  ReturnFreeMemory();
  Release(held_freed_);
  held_freed_ = 0;
}

int64_t MemoryBudget::held_freed() const {
  MutexLock lock(&held_mutex_);
  return held_freed_;
}

int64_t MemoryBudget::data_bytes() const {
  MutexLock lock(&held_mutex_);
  return used() - held_freed_;
}

bool MemoryBudget::OverSoftLimit() const { return limit_ > 0 && used() * 10 > limit_ * 9; }

arrow::Result<MemoryReservation> MemoryReservation::Make(MemoryBudget* budget, int64_t bytes,
                                                         ChargeMode mode, std::string_view what) {
  ARROW_RETURN_NOT_OK(budget->Charge(bytes, mode, what));
  return MemoryReservation(budget, bytes);
}

MemoryReservation& MemoryReservation::operator=(MemoryReservation&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void MemoryReservation::Reset() {
  if (budget_ != nullptr) budget_->Release(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

}  // namespace arbalest
