#include "store/memory_budget.h"

namespace arbalest {

arrow::Status MemoryBudget::Charge(int64_t bytes, std::string_view what) {
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

bool MemoryBudget::OverSoftLimit() const { return limit_ > 0 && used() * 10 > limit_ * 9; }

}  // namespace arbalest
