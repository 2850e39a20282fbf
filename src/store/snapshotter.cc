#include "store/snapshotter.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/thread_name.h"
#include "persist/staging_dir.h"
#include "store/vector_store.h"

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;

// How often the log's growth is checked against --snapshot-wal-bytes.
constexpr auto kWalPollInterval = std::chrono::milliseconds(250);

arrow::Status ShuttingDown() { return arrow::Status::Cancelled("the server is shutting down"); }

// A logged change, rows linked, or a change of the segments' layout (a merge logs nothing) since
// the dataset's snapshot.
bool Changed(const Dataset& dataset, const SavedSnapshot& saved) {
  return dataset.last_lsn() > saved.lsn || dataset.index().indexed_rows() > saved.indexed_rows ||
         dataset.layout_generation() > saved.layout;
}

}  // namespace

Snapshotter::Snapshotter(VectorStore& store, WalWriter& wal, SnapshotOptions options)
    : store_(store),
      wal_(wal),
      options_(std::move(options)),
      last_round_(Clock::now()),
      wal_bytes_at_last_round_(wal.bytes_written()) {
  thread_ = std::thread([this] { Run(); });
}

Snapshotter::~Snapshotter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  abort_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

arrow::Result<std::future<Snapshotter::Reports>> Snapshotter::Enqueue(
    const std::optional<std::string>& dataset) {
  if (dataset) ARROW_RETURN_NOT_OK(store_.Get(*dataset).status());
  Request request{dataset, {}};
  auto done = request.done.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || final_) return ShuttingDown();
    requests_.push_back(std::move(request));
  }
  wake_.notify_all();
  return done;
}

Snapshotter::Reports Snapshotter::SnapshotNow(const std::optional<std::string>& dataset) {
  ARROW_ASSIGN_OR_RAISE(auto done, Enqueue(dataset));
  return done.get();
}

void Snapshotter::AbandonAt(Clock::time_point deadline) { abandon_at_ = deadline; }

void Snapshotter::Shutdown(Clock::time_point deadline) {
  AbandonAt(deadline);
  {
    std::lock_guard lock(mutex_);
    if (!final_) final_ = deadline;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Snapshotter::Due(Clock::time_point now) const {
  if (options_.interval.count() > 0 && now - last_round_ >= options_.interval) return true;
  return options_.wal_bytes > 0 &&
         wal_.bytes_written() - wal_bytes_at_last_round_ >= options_.wal_bytes;
}

void Snapshotter::Run() {
  SetCurrentThreadName("arb-snapshot");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (!requests_.empty()) {
      Request request = std::move(requests_.front());
      requests_.pop_front();
      lock.unlock();
      std::vector<std::shared_ptr<Dataset>> datasets;
      arrow::Status found = arrow::Status::OK();
      if (request.dataset) {
        auto dataset = store_.Get(*request.dataset);
        found = dataset.status();
        if (dataset.ok()) datasets.push_back(*dataset);
      } else {
        datasets = store_.List();
      }
      if (found.ok()) {
        request.done.set_value(Round(datasets, /*all=*/true, Clock::time_point::max()));
      } else {
        request.done.set_value(found);
      }
      lock.lock();
      continue;
    }
    if (final_) {
      const Clock::time_point deadline = *final_;
      lock.unlock();
      auto result = Round(store_.List(), /*all=*/false, deadline);
      if (!result.ok()) spdlog::warn("shutdown snapshot: {}", result.status().message());
      lock.lock();
      break;
    }
    const Clock::time_point now = Clock::now();
    if (Due(now)) {
      lock.unlock();
      auto result = Round(store_.List(), /*all=*/false, Clock::time_point::max());
      if (!result.ok()) spdlog::error("{}", result.status().message());
      lock.lock();
      continue;
    }
    if (options_.wal_bytes > 0) {
      wake_.wait_for(lock, kWalPollInterval);
    } else if (options_.interval.count() > 0) {
      wake_.wait_until(lock, last_round_ + options_.interval);
    } else {
      wake_.wait(lock);
    }
  }
  for (auto& request : requests_) request.done.set_value(ShuttingDown());
  requests_.clear();
}

arrow::Result<std::vector<SnapshotReport>> Snapshotter::Round(
    const std::vector<std::shared_ptr<Dataset>>& datasets, bool all, Clock::time_point deadline) {
  last_round_ = Clock::now();
  wal_bytes_at_last_round_ = wal_.bytes_written();
  const auto cancelled = [&] {
    const Clock::time_point now = Clock::now();
    return abort_.load() || now >= deadline || now >= abandon_at_.load();
  };
  std::vector<SnapshotReport> reports;
  arrow::Status first_error = arrow::Status::OK();
  for (const auto& dataset : datasets) {
    const SavedSnapshot saved = dataset->saved_snapshot();
    if (!Changed(*dataset, saved)) {
      if (all) {
        reports.push_back({dataset->name(), saved.lsn, saved.rows, saved.deleted_rows,
                           saved.indexed_rows, saved.bytes, 0.0});
      }
      continue;
    }
    if (cancelled()) {
      first_error = arrow::Status::Cancelled("out of time before dataset '", dataset->name(),
                                             "' (the WAL keeps its changes)");
      break;
    }
    auto report = WriteSnapshot(*dataset, options_.dir, cancelled);
    if (report.ok()) {
      counters_.written.fetch_add(1, std::memory_order_relaxed);
      counters_.bytes.fetch_add(report->bytes, std::memory_order_relaxed);
      counters_.seconds.fetch_add(report->seconds, std::memory_order_relaxed);
      counters_.last_success.store(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count(),
          std::memory_order_relaxed);
      spdlog::info(
          "snapshot of '{}' at LSN {}: {} rows ({} deleted), {} indexed, {} bytes in {:.3f} s",
          report->dataset, report->lsn, report->rows, report->deleted_rows, report->indexed_rows,
          report->bytes, report->seconds);
      reports.push_back(std::move(*report));
      continue;
    }
    if (!all && dataset->dropped()) continue;  // deleted meanwhile: nothing to keep
    arrow::Status failed = report.status().WithMessage("snapshot of dataset '", dataset->name(),
                                                       "' failed: ", report.status().message());
    if (first_error.ok()) first_error = failed;
    if (!failed.IsCancelled()) {
      counters_.failed.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("{}", failed.message());
    }
  }
  if (arrow::Status status = Checkpoint(); !status.ok()) {
    counters_.checkpoint_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("checkpoint failed (the WAL keeps growing): {}", status.message());
  }
  if (!first_error.ok()) return first_error;
  return reports;
}

arrow::Status Snapshotter::Checkpoint() {
  // Read before listing the datasets: a dataset created after this point logs later records.
  const uint64_t next_lsn = wal_.next_lsn();
  uint64_t keep_from = next_lsn;
  std::map<std::string, SavedSnapshot, std::less<>> live;
  // Datasets whose creation is being logged count too: their first records may precede
  // next_lsn.
  for (const auto& dataset : store_.List(/*with_creations=*/true)) {
    keep_from = std::min(keep_from, dataset->FirstNeededLsn(next_lsn));
    live[dataset->name()] = dataset->saved_snapshot();
  }
  // Snapshots of deleted (or deleted and re-created) datasets go first: while they exist, a
  // restart needs the log records that delete them.
  ARROW_ASSIGN_OR_RAISE(SnapshotListing listing, ListSnapshotDirs(options_.dir));
  for (const auto& entry : listing.complete) {
    auto it = live.find(entry.dataset);
    if (it != live.end() && it->second.lsn == entry.lsn &&
        it->second.indexed_rows == entry.indexed_rows && it->second.layout == entry.layout) {
      continue;
    }
    ARROW_RETURN_NOT_OK(RemoveDirectoryDurably(entry.path));
  }
  spdlog::debug("checkpoint: the WAL is kept from LSN {}", keep_from);
  return wal_.DropSegmentsBefore(keep_from);
}

}  // namespace arbalest
