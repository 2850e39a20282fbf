// The full-text side of one dataset: which utf8 columns are indexed (chosen once, when the
// dataset is created) and the BM25 index over them (text/text_index.h), fed as batches are
// published, before the put that carried them is acked. A dataset without text columns has
// no DatasetText at all, so it pays nothing for hybrid search.
//
// Numbering: callers speak dataset rows; the index holds each row under its row key
// (store/row_keys.h), which compactions do not change: a DatasetText is one numbering (a view)
// of a shared index. A compaction makes a new view (Compacted) in time proportional to the rows
// it drops, instead of indexing every surviving row again; the old view stays valid for
// readers of the old snapshot, since both views map the same keys.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <string>
#include <string_view>
#include <vector>

#include "store/row_keys.h"
#include "text/row_filter.h"
#include "text/scored_row.h"
#include "text/text_index.h"

namespace arbalest {

// Schema metadata key naming the columns to full-text index: a comma-separated list of utf8
// (or large_utf8) column names; the empty string indexes none. Absent: every utf8 column but
// the id column.
inline constexpr std::string_view kTextColumnsKey = "longbow.text.columns";

// The positions in `schema` (a dataset's stored schema) of the columns to full-text index, in
// schema order. Invalid names the key and the column when the list names a column that is
// missing, repeated or not utf8.
arrow::Result<std::vector<int>> TextColumnsFor(const arrow::Schema& schema);

// Thread-safe: Add, Remove and Search may run concurrently (the TextIndex locks).
class DatasetText {
 public:
  // The text index for a dataset whose stored schema is `schema`, or null when the schema
  // selects no text column. Invalid as TextColumnsFor.
  static arrow::Result<std::unique_ptr<DatasetText>> Make(const arrow::Schema& schema);

  // A new, empty index over the same columns: a compaction that cannot use Compacted
  // rebuilds the index into it.
  arrow::Result<std::unique_ptr<DatasetText>> EmptyCopy() const;

  // This index numbered as after a compaction that drops `dropped` (rows of this view, every
  // one of them removed from the index already: compactions drop only deleted rows, and a
  // delete removes its rows). Shares the index with this view; costs O(|dropped|) rank steps.
  // Null when a key would pass 2^32 - 1 (the gone keys are a 32-bit bitmap), or when its gone
  // keys are worth dropping (RowKeys::WorthRenumbering over the `rows` left): rebuild then, so
  // that the numbering's memory does not grow with every row ever dropped.
  std::shared_ptr<DatasetText> Compacted(
      const Roaring& dropped, int64_t rows,
      uint64_t renumber_gone_keys = RowKeys::kRenumberGoneKeys) const;

  // The indexed columns' names, in schema order.
  const std::vector<std::string>& columns() const;

  // Indexes every row of `batch` (a stored batch: the text columns sit at the positions
  // TextColumnsFor gave) as dataset rows first_row, first_row + 1, ... A row's text columns
  // form one document; null values are empty text. CapacityError past 2^32 - 1 rows.
  // Tokenize then Add(TokenizedRows).
  arrow::Status Add(const arrow::RecordBatch& batch, int64_t first_row);

  // The two halves of Add, so that a put can tokenize before its rows have numbers. Tokenize
  // takes no lock; Add(TokenizedRows) holds the index's write lock while it inserts.
  arrow::Result<TextIndex::TokenizedRows> Tokenize(const arrow::RecordBatch& batch) const;
  arrow::Status Add(TextIndex::TokenizedRows text, int64_t first_row);

  // Takes `row` out of every later search (returns false when it was not indexed). The hook
  // for row deletes; scores then equal those of an index that never had the row.
  bool Remove(uint64_t row);

  // The `k` best rows for `query` by BM25 among those `filter` allows, best first; scored with
  // `global` statistics when given (TextIndex::Search).
  std::vector<ScoredRow> Search(std::string_view query, size_t k, const RowFilter& filter,
                                const Bm25Stats* global = nullptr) const;

  // This index's BM25 statistics for `query` (TextIndex::QueryStats).
  Bm25Stats QueryStats(std::string_view query) const { return shared_->index.QueryStats(query); }

  // Counts and memory (walks the dictionary: for the stats action, not per query).
  TextIndexStats Stats() const { return shared_->index.Stats(); }

 private:
  // What every view of one index shares.
  struct Shared {
    Shared(std::vector<int> columns, std::vector<std::string> names, Tokenizer tokenizer);
    const std::vector<int> columns;
    const std::vector<std::string> names;
    TextIndex index;
  };

  DatasetText(std::shared_ptr<Shared> shared, RowKeys keys);

  const std::shared_ptr<Shared> shared_;
  const RowKeys keys_;  // this view's numbering of the index's keys
};

}  // namespace arbalest
