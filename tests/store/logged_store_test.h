// A fixture for tests of a store that logs to a real WAL and takes snapshots in a fresh
// directory, reopened the way a restart rebuilds it; with the helpers such tests share.
#pragma once

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/recovery.h"
#include "store/scan.h"
#include "store/snapshot_io.h"
#include "store/vector_store.h"
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
    ARROW_ASSIGN_OR_RAISE(recovered_,
                          Recover(*store, {wal_dir(), snapshot_dir(), WalReadOptions{}}));
    WalOptions wal;
    wal.dir = wal_dir();
    wal.segment_bytes = segment_bytes_;
    ARROW_ASSIGN_OR_RAISE(auto writer, WalWriter::Open(wal, recovered_.next_lsn));
    store->AttachWal(std::move(writer));
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

  TempDir dir_{"arbalest_store_test"};
  int64_t segment_bytes_ = int64_t{64} << 20;
  RecoveryResult recovered_;
};

}  // namespace arbalest::testing
