// A fence over the writes of one shard on one node, so that a catch-up (shard_catchup.h) copies
// a shard while no write of it is under way: every shard put holds the fence open (Enter/Exit)
// for the time it stores its rows (and, on the primary, sends them to the replicas); a
// catch-up closes it (Close) once the writes under way have ended, for at most a hold time,
// and new writes wait (up to their own timeout) until it is released or the hold expires. A
// close is named by a random token, so that a release or a check by a token that a restart
// or an expiry made unknown says so instead of vouching for a fence that did not hold.
// Beside the fence, a gate between this node's deletes of the shard and the batches of a
// catch-up's bulk copy, which runs without the fence (shard_copy.h).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/mutex.h"

namespace arbalest {

// Thread-safe.
class ShardFence {
 public:
  using Clock = std::chrono::steady_clock;

  // Waits, at most `timeout`, until the fence is not closed (released, or its hold expired),
  // then counts one write under way. UNAVAILABLE naming `what` when it stays closed.
  arrow::Status Enter(std::chrono::milliseconds timeout, const std::string& what);
  void Exit();

  // Closes the fence for at most `hold` once no write is under way, waiting at most `wait`
  // for those that are; the close's token. UNAVAILABLE when another close holds it, or writes
  // are still under way after `wait` (the fence is open again then).
  // `holder`: the node the close is for (empty: this node).
  arrow::Result<uint64_t> Close(std::chrono::milliseconds hold, std::chrono::milliseconds wait,
                                std::string holder = "");
  // How long close `token` still holds the fence (zero or less: it does not: expired, released
  // or unknown).
  std::chrono::milliseconds Remaining(uint64_t token);
  // Opens the fence if close `token` holds it; whether it held until now.
  bool Release(uint64_t token);
  // Opens the fence if a close for another node holds it and `gone(holder)`; whether it did.
  bool ReleaseIfHolderGone(const std::function<bool(const std::string&)>& gone);

  // A delete of the shard holds the gate shared from the moment its ids are noted
  // (ShardDeletes) until it ran; a batch of a catch-up's bulk copy holds it exclusively from
  // reading the ids deleted lately until it is stored. So a row the copy stores either precedes
  // the delete of its id (which removes it) or follows it (and was skipped: its id was noted).
  SharedMutex* gate() RETURN_CAPABILITY(gate_) { return &gate_; }

 private:
  bool ClosedLocked() const REQUIRES(mutex_) { return token_ != 0 && Clock::now() < until_; }

  Mutex mutex_;
  CondVar changed_;
  int64_t writes_ GUARDED_BY(mutex_) = 0;
  uint64_t token_ GUARDED_BY(mutex_) = 0;  // 0: open
  Clock::time_point until_ GUARDED_BY(mutex_);
  std::string holder_ GUARDED_BY(mutex_);
  SharedMutex gate_;
};

// This node's fences, one per local shard dataset (by name). Thread-safe.
class ShardFences {
 public:
  std::shared_ptr<ShardFence> Of(const std::string& shard_dataset);
  // Opens every fence closed for a node that `gone` says left (it died copying: its shard's
  // writes need not wait out the hold). The fences opened.
  int ReleaseAbandoned(const std::function<bool(const std::string&)>& gone);

 private:
  Mutex mutex_;
  std::map<std::string, std::shared_ptr<ShardFence>> fences_ GUARDED_BY(mutex_);
};

// Holds a fence entered for its scope.
class FenceEntry {
 public:
  explicit FenceEntry(std::shared_ptr<ShardFence> fence) : fence_(std::move(fence)) {}
  ~FenceEntry() {
    if (fence_) fence_->Exit();
  }
  FenceEntry(const FenceEntry&) = delete;
  FenceEntry& operator=(const FenceEntry&) = delete;

 private:
  std::shared_ptr<ShardFence> fence_;
};

// Holds a fence entered, and its gate shared, for its scope: a delete of the shard.
class DeleteEntry {
 public:
  explicit DeleteEntry(std::shared_ptr<ShardFence> fence)
      : entry_(fence), fence_(std::move(fence)), gate_(fence_->gate()) {}
  DeleteEntry(const DeleteEntry&) = delete;
  DeleteEntry& operator=(const DeleteEntry&) = delete;

 private:
  FenceEntry entry_;  // exits after the gate is released
  std::shared_ptr<ShardFence> fence_;
  ReaderLock gate_;
};

// Releases a close of a fence at the end of its scope.
class FenceClosed {
 public:
  FenceClosed(ShardFence& fence, uint64_t token) : fence_(fence), token_(token) {}
  ~FenceClosed() { fence_.Release(token_); }
  FenceClosed(const FenceClosed&) = delete;
  FenceClosed& operator=(const FenceClosed&) = delete;

  uint64_t token() const { return token_; }

 private:
  ShardFence& fence_;
  const uint64_t token_;
};

}  // namespace arbalest
