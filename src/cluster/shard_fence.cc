#include "cluster/shard_fence.h"

#include <arrow/flight/types.h>

#include <random>
#include <vector>

namespace arbalest {
namespace {

namespace fl = arrow::flight;

uint64_t NewToken() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mutex);
  uint64_t token = 0;
  while (token == 0) token = random();
  return token;
}

}  // namespace

arrow::Status ShardFence::Enter(std::chrono::milliseconds timeout, const std::string& what) {
  const auto deadline = Clock::now() + timeout;
  MutexLock lock(&mutex_);
  while (ClosedLocked()) {
    const auto wake = std::min(deadline, until_);
    if (Clock::now() >= deadline) {
      return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                                 what +
                                     ": its writes are paused while a replica catches up; "
                                     "retry the batch");
    }
    changed_.WaitUntil(&mutex_, wake);
  }
  ++writes_;
  return arrow::Status::OK();
}

void ShardFence::Exit() {
  MutexLock lock(&mutex_);
  --writes_;
  changed_.SignalAll();
}

arrow::Result<uint64_t> ShardFence::Close(std::chrono::milliseconds hold,
                                          std::chrono::milliseconds wait, std::string holder) {
  const auto deadline = Clock::now() + wait;
  MutexLock lock(&mutex_);
  if (ClosedLocked()) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "another catch-up holds the shard's writes");
  }
  const uint64_t token = NewToken();
  token_ = token;
  until_ = Clock::now() + hold;
  holder_ = std::move(holder);
  while (writes_ > 0 && Clock::now() < deadline) changed_.WaitUntil(&mutex_, deadline);
  if (writes_ > 0) {
    token_ = 0;
    changed_.SignalAll();
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "the shard's writes under way did not end in time");
  }
  return token;
}

std::chrono::milliseconds ShardFence::Remaining(uint64_t token) {
  MutexLock lock(&mutex_);
  if (token == 0 || token != token_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(until_ - Clock::now());
}

bool ShardFence::Release(uint64_t token) {
  MutexLock lock(&mutex_);
  if (token == 0 || token != token_) return false;
  const bool held = Clock::now() < until_;
  token_ = 0;
  changed_.SignalAll();
  return held;
}

bool ShardFence::ReleaseIfHolderGone(const std::function<bool(const std::string&)>& gone) {
  MutexLock lock(&mutex_);
  if (!ClosedLocked() || holder_.empty() || !gone(holder_)) return false;
  token_ = 0;
  changed_.SignalAll();
  return true;
}

int ShardFences::ReleaseAbandoned(const std::function<bool(const std::string&)>& gone) {
  std::vector<std::shared_ptr<ShardFence>> fences;
  {
    MutexLock lock(&mutex_);
    for (const auto& [name, fence] : fences_) fences.push_back(fence);
  }
  int released = 0;
  for (const auto& fence : fences) released += fence->ReleaseIfHolderGone(gone);
  return released;
}

std::shared_ptr<ShardFence> ShardFences::Of(const std::string& shard_dataset) {
  MutexLock lock(&mutex_);
  auto& fence = fences_[shard_dataset];
  if (!fence) fence = std::make_shared<ShardFence>();
  return fence;
}

}  // namespace arbalest
