// What Dataset::Commit takes: the typed mutations a client's change makes (an append, a delete
// by id, graph edges), and the log their records go to (CommitLog: a WalWriter, or none).
// Dataset::Commit (dataset_commit.cc) is the only way a logged change enters a dataset: under
// the dataset's private mutexes it validates, queues the record, waits for the log without
// them and publishes in its turn, so log order = publication order = row numbering without
// the caller knowing the dataset's locks. The store (VectorStore) maps names to datasets and
// passes its log in; nothing here knows the store.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <roaring/roaring.hh>
#include <vector>

#include "persist/wal_format.h"
#include "persist/wal_writer.h"
#include "store/row_keys.h"

namespace arbalest {

// `rows` of a numbering as their keys (RowKeys::KeyOf; rows past its last take the next keys):
// what records of version 2 log (persist/wal_format.h).
Roaring KeysOfRows(const RowKeys& keys, const Roaring& rows);

// What a put into a dataset whose ids are unique does with a row of the batch whose id has a
// live row in the dataset: replaces that row (an upsert: every client's put), or keeps it and
// leaves the batch's row out (a shard's catch-up storing rows it read from the primary before
// the puts this node received since: cluster/shard_copy.h). Datasets whose ids are not unique
// append every row either way.
enum class HeldIds { kReplace, kKeep };

// A batch to append, as the client sent it: Commit validates and conforms it (ConformBatch).
// For a dataset whose ids are unique (DatasetLayout::unique_id) it replaces the rows carrying
// its ids (an upsert), or leaves its rows of those ids out (`held_ids`).
struct AppendMutation {
  std::shared_ptr<arrow::RecordBatch> batch;
  // The batch is a new dataset's first: its creation is logged with it, in one group, so that
  // the log never holds a dataset without the batch that created it.
  bool log_creation = false;
  HeldIds held_ids = HeldIds::kReplace;
};

// Deletes the live rows carrying `ids` (an array of the dataset's id type: IdsToArray).
struct DeleteMutation {
  const arrow::Array& ids;
};

// Adds graph edges (any batch ConformEdges accepts, graph/edge_batch.h) between live rows.
struct EdgesMutation {
  const arrow::RecordBatch& edges;
};

class HnswIndex;

// A sealed segment built on another node (a shard's primary: store/segment_transfer.h), appended
// whole with the graph it was built with: its rows in its local order (batches of the dataset's
// columns), and its graph over every one of them (graph row i is local row i). `deleted`: local
// rows deleted in the same commit (they stay in the segment, so its graph stays whole).
struct SegmentMutation {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::shared_ptr<HnswIndex> graph;
  Roaring deleted;
};

// What a commit did.
struct Committed {
  int64_t rows = 0;   // rows appended or deleted, edges added
  int64_t bytes = 0;  // an append's Arrow bytes as stored
  uint64_t lsn = 0;   // its WAL record; 0 without a log
};

// The write-ahead log a commit queues its record to. A value: copy it freely.
class CommitLog {
 public:
  // Records go to `wal`; null: nothing is logged (a store without a log), tickets have LSN 0.
  // `row_numbers`: log records of version 1, naming rows by number, and compactions, as
  // builds before row keys did (persist/wal_format.h); for tests of the upgrade path.
  explicit CommitLog(WalWriter* wal = nullptr, bool row_numbers = false)
      : wal_(wal), row_numbers_(row_numbers) {}

  bool attached() const { return wal_ != nullptr; }
  bool row_numbers() const { return row_numbers_; }

  // Queues `payload` as the next record (WalWriter::Enqueue, `on_failure` included). Fails,
  // queuing nothing, when the payload could not be encoded.
  arrow::Result<WalTicket> Enqueue(arrow::Result<WalPayload> payload,
                                   std::function<void()> on_failure = nullptr) const;

  // Queues `payloads` as consecutive records of one group: all reach the log or none does
  // (WalWriter::EnqueueAll).
  arrow::Result<std::vector<WalTicket>> EnqueueAll(
      std::vector<arrow::Result<WalPayload>> payloads,
      std::function<void()> on_failure = nullptr) const;

  // Blocks until `ticket`'s record is durable (WalWriter::Wait); OK at once without a log.
  arrow::Status Wait(const WalTicket& ticket) const;

 private:
  WalWriter* wal_;
  bool row_numbers_;
};

}  // namespace arbalest
