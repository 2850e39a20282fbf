// The store's memory limit (--max-memory): puts charge the bytes they keep, dropping a dataset
// releases them, and the indexes built from the data (HNSW vectors and graph, full-text
// postings) are charged as they grow. Past the limit a put is refused (ResourceExhausted over
// Flight) instead of the process running out of memory; past the soft limit acks carry a
// slow_down hint.
#pragma once

#include <arrow/status.h>

#include <atomic>
#include <cstdint>

namespace arbalest {

// Thread-safe.
class MemoryBudget {
 public:
  // `limit_bytes` 0 means unlimited.
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  // Charges `bytes`, or returns CapacityError (charging nothing) when the total would exceed
  // the limit. The message gives the numbers and names --max-memory.
  arrow::Status Charge(int64_t bytes);

  // Returns bytes charged earlier.
  void Release(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  // Charges (delta > 0) or releases (delta < 0) memory derived from data already accepted,
  // such as an index growing over acked rows: never refused, since the rows are already
  // promised, but later puts see it and are refused once the total passes the limit.
  void Adjust(int64_t delta) { used_.fetch_add(delta, std::memory_order_relaxed); }

  // True past 90% of the limit: clients should slow down.
  bool OverSoftLimit() const;

  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> used_{0};
};

}  // namespace arbalest
