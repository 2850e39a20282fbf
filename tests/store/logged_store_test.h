// A fixture for tests of a store that logs to a real WAL and takes snapshots in a fresh
// directory, reopened the way a restart rebuilds it; with the helpers such tests share.
#pragma once

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/recovery.h"
#include "store/scan.h"
#include "store/snapshot_io.h"
#include "store/vector_store.h"
#include "testing/batches.h"
#include "testing/temp_dir.h"

namespace arbalest::testing {

class LoggedStoreTest : public ::testing::Test {
 protected:
  std::string wal_dir() const { return dir_ / "wal"; }
  std::string snapshot_dir() const { return dir_ / "snapshots"; }

  // The store as a restart rebuilds it (snapshots, then the log), logging and snapshotting.
  arrow::Result<std::unique_ptr<VectorStore>> TryOpen(int64_t max_memory = 0,
                                                      SnapshotOptions snapshots = {}) {
    auto store = std::make_unique<VectorStore>(max_memory);
    ARROW_ASSIGN_OR_RAISE(
        recovered_, Recover(*store, {wal_dir(), snapshot_dir(), WalReadOptions{skip_corrupt_}}));
    WalOptions wal;
    wal.dir = wal_dir();
    wal.segment_bytes = segment_bytes_;
    ARROW_ASSIGN_OR_RAISE(auto writer, WalWriter::Open(wal, recovered_.next_lsn));
    store->AttachWal(std::move(writer));
    if (log_row_numbers_) store->LogRowNumbersForTest();
    ARROW_RETURN_NOT_OK(LogRowCounts(*store, recovered_));
    snapshots.dir = snapshot_dir();
    ARROW_RETURN_NOT_OK(store->StartSnapshots(snapshots));
    return store;
  }
  std::unique_ptr<VectorStore> Open(SnapshotOptions snapshots = {}) {
    auto store = TryOpen(0, snapshots);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(*store);
  }

  static std::shared_ptr<Dataset> Put(VectorStore& store, const std::string& name,
                                      const std::shared_ptr<arrow::RecordBatch>& batch) {
    std::shared_ptr<Dataset> dataset;
    auto ack = store.Put(name, batch, &dataset);
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    return dataset;
  }

  static std::shared_ptr<arrow::Array> Ids(const std::vector<int64_t>& ids) {
    arrow::Int64Builder builder;
    EXPECT_TRUE(builder.AppendValues(ids).ok());
    return builder.Finish().ValueOrDie();
  }

  // Adds up to `rows` rows to the dataset's graph, as an index worker does.
  static int64_t IndexRows(Dataset& dataset, int64_t rows) {
    auto added = dataset.CatchUpIndex(rows, /*threads=*/1, [] { return false; });
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    return added.ValueOr(0);
  }

  static std::vector<SnapshotReport> SnapshotAll(VectorStore& store,
                                                 std::optional<std::string> name = std::nullopt) {
    auto reports = store.snapshotter()->SnapshotNow(name);
    EXPECT_TRUE(reports.ok()) << reports.status().ToString();
    return reports.ValueOr({});
  }

  // What a scan of the dataset returns (older batches padded to the current schema).
  static std::shared_ptr<arrow::Table> Contents(const VectorStore& store, const std::string& name) {
    auto reader = ScanSnapshot(store.Get(name).ValueOrDie()->Snapshot(), {}).ValueOrDie();
    return reader->ToTable().ValueOrDie()->CombineChunks().ValueOrDie();
  }

  // The int64 ids in column 0 of `table`, each once (a repeat fails the test).
  static std::set<int64_t> IdsIn(const arrow::Table& table) {
    std::set<int64_t> ids;
    for (const auto& chunk : table.column(0)->chunks()) {
      const auto& values = static_cast<const arrow::Int64Array&>(*chunk);
      for (int64_t i = 0; i < values.length(); ++i) {
        EXPECT_TRUE(ids.insert(values.Value(i)).second) << "id " << values.Value(i) << " twice";
      }
    }
    return ids;
  }

  // Puts, deletes and index turns against one dataset from three threads, as clients and an
  // index worker would, until Stop (or destruction). The dataset holds ids 0 .. first_id - 1 in
  // batches of `rows`; puts go on with batches of `rows` fresh ids, deletes pick acked ids.
  class Workload {
   public:
    Workload(VectorStore& store, Dataset& dataset, int64_t first_id, int64_t rows, int32_t dim)
        : batches_(first_id / rows) {
      for (int64_t id = 0; id < first_id; ++id) acked_.insert(id);
      writer_ = std::thread([&store, &dataset, first_id, rows, dim, this] {
        for (int64_t id = first_id; !stop_; id += rows) {
          if (store.Append(dataset, MakeVectorBatch(id, rows, dim)).ok()) {
            for (int64_t i = id; i < id + rows; ++i) acked_.insert(i);
            batches_ = id / rows + 1;
          }
        }
      });
      deleter_ = std::thread([&store, &dataset, rows, this] {
        for (int64_t n = 0; !stop_; ++n) {
          const int64_t id = (n * 7919 % batches_) * rows + n % rows;  // an acked row
          if (*store.Delete(dataset, *Ids({id})) == 1) deleted_.insert(id);
        }
      });
      indexer_ = std::thread([&dataset, this] {
        while (!stop_) IndexRows(dataset, 64);
      });
    }
    ~Workload() { Stop(); }
    Workload(const Workload&) = delete;
    Workload& operator=(const Workload&) = delete;

    void Stop() {
      stop_ = true;
      for (auto* thread : {&writer_, &deleter_, &indexer_}) {
        if (thread->joinable()) thread->join();
      }
    }
    // After Stop: the ids acked, less those deleted.
    std::set<int64_t> Live() const {
      std::set<int64_t> live;
      std::set_difference(acked_.begin(), acked_.end(), deleted_.begin(), deleted_.end(),
                          std::inserter(live, live.end()));
      return live;
    }
    const std::set<int64_t>& deleted() const { return deleted_; }

   private:
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> batches_;
    std::set<int64_t> acked_, deleted_;  // each written by one thread, read after Stop
    std::thread writer_, deleter_, indexer_;
  };

  TempDir dir_{"arbalest_store_test"};
  int64_t segment_bytes_ = int64_t{64} << 20;
  bool skip_corrupt_ = false;  // what TryOpen recovers with (--wal-skip-corrupt)
  // Whether TryOpen's store logs records of version 1 (row numbers, logged compactions), as
  // builds before row keys did: for tests of the upgrade path.
  bool log_row_numbers_ = false;
  RecoveryResult recovered_;
};

}  // namespace arbalest::testing
