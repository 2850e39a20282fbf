#include "store/compactor.h"

#include "common/thread_name.h"

namespace arbalest {

bool ShouldCompact(const DatasetSnapshot& snapshot, const CompactionOptions& options) {
  if (options.deleted_fraction <= 0) return false;
  const int64_t deleted = snapshot.deleted_rows;
  return deleted > 0 && deleted >= options.min_deleted_rows &&
         static_cast<double>(deleted) >=
             options.deleted_fraction * static_cast<double>(snapshot.num_rows);
}

Compactor::Compactor(Compact compact) : compact_(std::move(compact)) {
  thread_ = std::thread([this] { Run(); });
}

Compactor::~Compactor() {
  cancel_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Compactor::Notify(const std::string& dataset) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !queued_.insert(dataset).second) return;
    queue_.push_back(dataset);
  }
  wake_.notify_one();
}

void Compactor::Run() {
  SetCurrentThreadName("arb-compact");
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    queued_.erase(name);
    lock.unlock();
    compact_(name, [this] { return cancel_.load(std::memory_order_relaxed); });
    lock.lock();
  }
}

}  // namespace arbalest
