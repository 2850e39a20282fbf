#include "store/replay_numbering.h"

#include <spdlog/spdlog.h>

#include "store/row_keys.h"
#include "store/tombstones.h"

namespace arbalest {
namespace {

std::string_view RecordKind(WalRecordType type) {
  switch (type) {
    case WalRecordType::kAppend:
      return "append";
    case WalRecordType::kDelete:
      return "delete";
    case WalRecordType::kCompact:
      return "compaction";
    case WalRecordType::kRowCount:
      return "row count";
    case WalRecordType::kUpsert:
      return "upsert";
    case WalRecordType::kRekey:
      return "rekey";
    default:
      return "record";
  }
}

}  // namespace

arrow::Result<KeyedRows> PlaceKeys(const WalEntry& entry, const RowKeys& keys, uint64_t next_key) {
  KeyedRows placed;
  const uint64_t rows = next_key - keys.gone_count();  // the rows replay has
  uint64_t first_key = next_key;                       // the record's own rows' first key
  uint64_t end_key = next_key;                         // past its own rows' keys
  // An append's or upsert's first key, or a rekey's next key: past replay's, the keys between
  // were given to rows of lost records.
  const bool rekey = entry.type == WalRecordType::kRekey;
  if (entry.batch || rekey) {
    if (entry.first_key < next_key) {
      return arrow::Status::Invalid(
          "WAL record ", entry.lsn, " (", RecordKind(entry.type), " of dataset '", entry.dataset,
          rekey ? "') renumbers row keys below " : "') gives its rows keys from ", entry.first_key,
          ", but the dataset's rows took keys up to ", next_key - 1, " already");
    }
    first_key = entry.first_key;
    placed.lost_keys = first_key - next_key;
    end_key = first_key + (entry.batch ? static_cast<uint64_t>(entry.batch->num_rows()) : 0);
  }
  for (const uint32_t key : entry.rows) {
    if (key >= first_key && key < end_key) {  // the record's own rows
      placed.rows.add(static_cast<uint32_t>(rows + (key - first_key)));
    } else if (rekey && key >= next_key && key < first_key) {
      ++placed.gone;  // a lost row's key, retired
    } else if (key >= next_key) {
      placed.unknown.add(key);
    } else if (keys.Gone(key)) {
      ++placed.gone;
    } else {
      placed.rows.add(static_cast<uint32_t>(keys.RowOf(key)));
    }
  }
  return placed;
}

arrow::Status ReplayNumbering::Check(const WalEntry& entry, int64_t stored_rows, bool skip_corrupt,
                                     int64_t* lost_rows) {
  const uint64_t previous_lsn = last_lsn_;
  last_lsn_ = entry.lsn;
  if (!entry.logged_rows) return arrow::Status::OK();
  const int64_t logged = *entry.logged_rows;
  if (entry.type == WalRecordType::kRowCount && logged == stored_rows) {
    missing_ = Roaring();  // from here on the records number rows as replay does
    placeable_ = true;
    return arrow::Status::OK();
  }
  if (!placeable_) return arrow::Status::OK();
  const int64_t expected = stored_rows + static_cast<int64_t>(missing_.cardinality());
  if (logged == expected) return arrow::Status::OK();
  const std::string where = "WAL record " + std::to_string(entry.lsn) + " (" +
                            std::string(RecordKind(entry.type)) + " of dataset '" + entry.dataset +
                            "') was logged when the dataset had " + std::to_string(logged) +
                            " rows, but replay has " + std::to_string(expected) + " there";
  const bool lost = logged > expected && entry.type != WalRecordType::kRowCount;
  if (!skip_corrupt) {
    return arrow::Status::Invalid(
        where, lost ? ": rows " + std::to_string(expected) + ".." + std::to_string(logged - 1) +
                          " were in records that are missing from the log"
                    : ": a record that renumbered its rows is missing from the log");
  }
  if (lost) {
    missing_.addRange(static_cast<uint64_t>(expected), static_cast<uint64_t>(logged));
    *lost_rows += logged - expected;
    spdlog::error(
        "recovery: dataset '{}' lost rows {}..{} ({} rows) with records lost between LSN {} and "
        "{}; its later records are applied to the rows they named",
        entry.dataset, expected, logged - 1, logged - expected, previous_lsn, entry.lsn);
    return arrow::Status::OK();
  }
  placeable_ = false;
  spdlog::error(
      "recovery: {}: a record lost between LSN {} and {} renumbered the dataset's rows, so its "
      "later deletes and compactions cannot be placed and are skipped (rows they deleted are "
      "back)",
      where, previous_lsn, entry.lsn);
  return arrow::Status::OK();
}

void ReplayNumbering::Lost(int64_t stored_rows, int64_t rows) {
  if (!placeable_ || rows <= 0) return;
  const uint64_t expected = static_cast<uint64_t>(stored_rows) + missing_.cardinality();
  missing_.addRange(expected, expected + static_cast<uint64_t>(rows));
}

Roaring ReplayNumbering::Translate(const Roaring& logged) const {
  // Replay's rows are the logged ones less the missing: a compaction of them away.
  return missing_.isEmpty() ? logged : CompactedRowNumbers(logged, missing_);
}

void ReplayNumbering::Compacted(const Roaring& dropped) {
  if (!missing_.isEmpty()) missing_ = CompactedRowNumbers(missing_, dropped);
}

}  // namespace arbalest
