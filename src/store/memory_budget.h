// The store's memory limit (--max-memory): creating a dataset charges its fixed cost, puts
// charge the bytes they keep and the index memory their rows will need (before any of it is
// allocated), dropping a dataset releases them, and what the indexes hold beyond that (full-text
// postings) is charged as it grows. Past the limit a put is refused (UNAVAILABLE over Flight)
// instead of the process running out of memory; past the soft limit acks carry a slow_down
// hint.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <cstdint>
#include <string_view>

#include "common/mutex.h"

namespace arbalest {

// Whether a charge may be refused: kRefusable for what a client asks for now, kAlways for data
// already promised (replayed at startup), which is counted but never refused.
enum class ChargeMode { kRefusable, kAlways };

// Thread-safe.
class MemoryBudget {
 public:
  // `limit_bytes` 0 means unlimited.
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  // Charges `bytes`, or returns CapacityError (charging nothing) when the total would exceed
  // the limit. The message gives the numbers, says what they are `for` ("this batch"), and names
  // --max-memory.
  arrow::Status Charge(int64_t bytes, std::string_view what = "this batch");
  // Charge, or Adjust for kAlways.
  arrow::Status Charge(int64_t bytes, ChargeMode mode, std::string_view what);

  // Returns bytes charged earlier.
  void Release(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  // Charges (delta > 0) or releases (delta < 0) memory derived from data already accepted,
  // such as an index growing over acked rows: never refused, since the rows are already
  // promised, but later puts see it and are refused once the total passes the limit.
  void Adjust(int64_t delta) { used_.fetch_add(delta, std::memory_order_relaxed); }

  // Memory the store freed (batches replaced by their indexed form) that the allocator keeps
  // for the next puts rather than handing it back at once (store/free_memory.h): it stays
  // charged until it is handed back, so that the process's resident memory stays within the
  // limit. HoldFreed charges it; ReturnFreedSometimes hands it back when nothing was returned
  // in the last few seconds (under a limit: always, since the limit bounds the resident memory
  // and other frees the budget does not see go back with it); ReturnFreed hands it back now; a
  // charge that would pass the limit hands it back first.
  void HoldFreed(int64_t bytes) EXCLUDES(held_mutex_);
  void ReturnFreedSometimes() EXCLUDES(held_mutex_);
  void ReturnFreed() EXCLUDES(held_mutex_);
  int64_t held_freed() const EXCLUDES(held_mutex_);
  // used() less held_freed(), read together: what datasets, rows and indexes hold.
  int64_t data_bytes() const EXCLUDES(held_mutex_);

  // True past 90% of the limit: clients should slow down.
  bool OverSoftLimit() const;

  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> used_{0};
  // Serializes the held memory's changes with reads of data_bytes(), so that a reader never sees
  // it counted in used_ and not in held_freed_ or the other way round.
  mutable Mutex held_mutex_;
  int64_t held_freed_ GUARDED_BY(held_mutex_) = 0;  // part of used_
};

// Bytes charged to a budget for as long as this object lives: work memory allocated beside what
// the store already holds (a merge's new graph, until it replaces the two it merges), so that
// puts see it and the process stays within --max-memory meanwhile. Move-only.
class MemoryReservation {
 public:
  MemoryReservation() = default;
  // Charges `bytes` (MemoryBudget::Charge with `mode`); the reservation releases them.
  static arrow::Result<MemoryReservation> Make(MemoryBudget* budget, int64_t bytes, ChargeMode mode,
                                               std::string_view what);
  MemoryReservation(MemoryReservation&& other) noexcept { *this = std::move(other); }
  MemoryReservation& operator=(MemoryReservation&& other) noexcept;
  MemoryReservation(const MemoryReservation&) = delete;
  MemoryReservation& operator=(const MemoryReservation&) = delete;
  ~MemoryReservation() { Reset(); }

  // Releases the bytes now.
  void Reset();
  int64_t bytes() const { return bytes_; }

 private:
  MemoryReservation(MemoryBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}

  MemoryBudget* budget_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace arbalest
