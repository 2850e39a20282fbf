// A named collection of rows: the Arrow record batches put into it, in log order, under one
// evolving schema. The unit that DoPut appends to and that scans and searches read.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "store/dataset_index.h"
#include "store/dataset_layout.h"
#include "store/dataset_text.h"
#include "store/memory_budget.h"
#include "store/tombstones.h"

namespace arbalest {

// A consistent view of a dataset: every batch whole, none half-appended, and the rows deleted
// at that moment. Batches appended before a schema evolution lack the newer (nullable)
// columns; readers pad them with nulls (PadToSchema in scan.h). Deleted rows stay in the
// batches; readers leave out the rows in `deleted` (every one of them is below num_rows).
struct DatasetSnapshot {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t num_rows = 0;  // stored rows, deleted ones included
  int64_t num_bytes = 0;
  std::shared_ptr<const TombstoneSet> deleted = TombstoneSet::Empty();

  int64_t live_rows() const { return num_rows - static_cast<int64_t>(deleted->size()); }
};

// A batch validated, conformed and charged to the budget, waiting to be published. It must be
// passed to exactly one of Dataset::Publish or Dataset::Discard.
struct PreparedAppend {
  std::shared_ptr<arrow::RecordBatch> batch;  // as it will be stored and logged
  int64_t bytes = 0;
  uint64_t ticket = 0;  // position in the dataset's publication order
  // The batch's text, tokenized ahead of publication by Dataset::TokenizeText; unset: Publish
  // tokenizes it.
  std::optional<TextIndex::TokenizedRows> text;
};

// Thread-safe. Appending is two-phase so that the write-ahead log can sit between validation
// and visibility: Prepare (under the caller's ordering), log, then Publish (or Discard if
// logging failed). Batches become visible in the order they were prepared. Deleting is
// likewise resolve (LiveRowsWithIds over a snapshot), log, then PublishDeletes.
class Dataset {
 public:
  // An empty dataset whose stored schema derives from `put_schema` (see StoredSchemaFor).
  // `budget` must outlive the dataset; the dataset's bytes are charged to it.
  static arrow::Result<std::shared_ptr<Dataset>> Create(std::string name,
                                                        const arrow::Schema& put_schema,
                                                        MemoryBudget* budget);
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const std::string& name() const { return name_; }
  const DatasetLayout& layout() const { return layout_; }
  // The schema the dataset was created from (logged so that replay recreates it exactly).
  const std::shared_ptr<arrow::Schema>& put_schema() const { return put_schema_; }

  // Checks that a put whose schema is `put_schema` could append to this dataset (a schema-only
  // put to an existing dataset). Invalid names the mismatch.
  arrow::Status CheckPutSchema(const arrow::Schema& put_schema) const;

  // Validates and conforms `batch` (ConformBatch) and charges its bytes to the budget. The
  // caller must hold `append_mutex()`, and keep holding it until the batch is queued to the
  // log, so that log order and publication order agree. Errors: Invalid (bad batch, naming the
  // problem), CapacityError (memory limit), KeyError (the dataset was dropped).
  arrow::Result<PreparedAppend> Prepare(const std::shared_ptr<arrow::RecordBatch>& batch);

  // Tokenizes the prepared batch's text for the text index (nothing without text columns).
  // Optional: a put calls it while its batch is being logged, so that the tokenizing, the
  // costly half of text indexing, overlaps the wait for the log.
  void TokenizeText(PreparedAppend* prepared) const;

  // Makes a prepared batch visible, after every batch prepared before it has been published or
  // discarded (waits for them), and adds its rows to the text index (consuming prepared.text):
  // when Publish returns, a search finds them.
  void Publish(PreparedAppend& prepared);

  // Gives up a prepared batch: releases its bytes and its place in the order.
  void Discard(const PreparedAppend& prepared);

  // Prepare + Publish, for appends that are not logged.
  arrow::Result<int64_t> Append(const std::shared_ptr<arrow::RecordBatch>& batch);

  // Appends a batch read back from the write-ahead log: already conformed when it was logged.
  arrow::Status AppendRecovered(const std::shared_ptr<arrow::RecordBatch>& batch);

  // The dataset's vector index, and the position of the vector column in every batch.
  DatasetIndex& index() const { return *index_; }
  int vector_column() const { return vector_column_; }

  // Indexes up to `max_rows` rows not yet indexed, with `threads` threads, until `stop` returns
  // true or the dataset is dropped; returns how many were added.
  arrow::Result<int64_t> CatchUpIndex(int64_t max_rows, int threads,
                                      const std::function<bool()>& stop);

  // The full-text index over the dataset's text columns; null when it has none. Row deletes
  // take rows out of it with DatasetText::Remove.
  DatasetText* text() const { return text_.get(); }

  // The mutex that orders appends (see Prepare).
  std::mutex& append_mutex() { return append_mutex_; }

  // The mutex that serializes deletes, held from resolving the rows until they are published,
  // so that two deletes never count the same row.
  std::mutex& delete_mutex() { return delete_mutex_; }

  // Marks `rows` (published rows, not deleted yet) deleted: scans and searches that start
  // afterwards leave them out. The caller holds delete_mutex() and has made the delete durable.
  void PublishDeletes(const Roaring& rows);

  // Applies a delete read back from the write-ahead log. Invalid, naming the record `lsn`,
  // when it names a row the dataset does not have.
  arrow::Status DeleteRecovered(const Roaring& rows, uint64_t lsn);

  // The rows published so far.
  DatasetSnapshot Snapshot() const;

  // The current schema.
  std::shared_ptr<arrow::Schema> schema() const;

  // Marks the dataset dropped: later prepares fail, its bytes go back to the budget and its
  // indexing stops. Called by VectorStore::Drop.
  void MarkDropped();
  bool dropped() const;

 private:
  Dataset(std::string name, std::shared_ptr<arrow::Schema> put_schema,
          std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
          std::unique_ptr<DatasetIndex> index, std::unique_ptr<DatasetText> text,
          MemoryBudget* budget);
  // Publishes (or skips, if `batch` is null) the append holding `ticket`, in ticket order.
  // Returns the dataset row number of the batch's first row, or nullopt when it was skipped.
  std::optional<int64_t> Resolve(uint64_t ticket, const std::shared_ptr<arrow::RecordBatch>& batch,
                                 int64_t bytes);
  // Adds the rows of `batch`, published at `first_row` (unset: not published), to the text
  // index if there is one, from `tokenized` when given.
  void IndexText(const arrow::RecordBatch& batch, std::optional<TextIndex::TokenizedRows> tokenized,
                 std::optional<int64_t> first_row);

  const std::string name_;
  const std::shared_ptr<arrow::Schema> put_schema_;
  const DatasetLayout layout_;
  const int vector_column_;
  const std::unique_ptr<DatasetIndex> index_;
  const std::unique_ptr<DatasetText> text_;
  MemoryBudget* const budget_;

  // Serializes Prepare (it needs the current schema and the next assigned id) and, for logged
  // appends, queuing to the log.
  std::mutex append_mutex_;
  std::mutex delete_mutex_;
  uint64_t next_assigned_id_ = 0;  // guarded by append_mutex_
  uint64_t next_ticket_ = 0;       // guarded by append_mutex_

  // Guards the published state below; held only to publish or copy it.
  mutable std::shared_mutex state_mutex_;
  std::condition_variable_any turn_;  // signalled when next_to_publish_ advances
  uint64_t next_to_publish_ = 0;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  std::shared_ptr<const TombstoneSet> deleted_ = TombstoneSet::Empty();
  int64_t num_rows_ = 0;
  int64_t num_bytes_ = 0;
  bool dropped_ = false;
};

}  // namespace arbalest
