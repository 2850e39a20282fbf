// Dataset's compaction: Compact, PlanCompaction, PublishCompaction and CompactRecovered
// (declared in dataset.h), apart from the rest of Dataset because they are a subject of their
// own.
#include "store/dataset_compaction.h"

#include <arrow/status.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "index/hnsw_compaction.h"
#include "store/dataset.h"
#include "store/segment.h"

namespace arbalest {
namespace {

// Batches left small by a compaction are concatenated with their neighbours (of the same
// schema) into batches of up to this many rows, so that scans do not crawl through slivers.
constexpr int64_t kCoalescedRows = int64_t{64} << 10;

// A dataset's row range [first, end).
struct RowRange {
  int64_t first = 0;
  int64_t end = 0;
};

// `batches` (rows numbered across them from 0) less the rows in `dropped`, which all lie in
// `rewritten` (sorted, disjoint: the segments that lose rows). Batches that overlap no range
// of `rewritten` are kept as they are (not even looked at); those that do lose their dropped
// rows, and small runs of them are concatenated. *first_rewritten: the first row of the
// first batch that overlaps a range (no dropped row lies below it), or the row count.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> DropBatchRows(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, const Roaring& dropped,
    const std::vector<RowRange>& rewritten, const std::function<bool()>& cancelled,
    int64_t* first_rewritten) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  arrow::RecordBatchVector run;
  int64_t run_rows = 0;
  auto flush = [&]() -> arrow::Status {
    if (run.size() == 1) out.push_back(run.front());
    if (run.size() > 1) {
      ARROW_ASSIGN_OR_RAISE(auto joined, arrow::ConcatenateRecordBatches(run));
      out.push_back(std::move(joined));
    }
    run.clear();
    run_rows = 0;
    return arrow::Status::OK();
  };
  int64_t first_row = 0;
  *first_rewritten = -1;
  size_t range = 0;
  for (const auto& stored : batches) {
    const int64_t end = first_row + stored->num_rows();
    while (range < rewritten.size() && rewritten[range].end <= first_row) ++range;
    if (range == rewritten.size() || rewritten[range].first >= end) {  // untouched: shared
      ARROW_RETURN_NOT_OK(flush());
      if (stored->num_rows() > 0) out.push_back(stored);
      first_row = end;
      continue;
    }
    if (cancelled()) return arrow::Status::Cancelled("compaction abandoned");
    if (*first_rewritten < 0) *first_rewritten = first_row;
    ARROW_ASSIGN_OR_RAISE(auto kept, DropRows(stored, dropped, first_row));
    first_row = end;
    if (kept->num_rows() == 0) continue;
    const bool joins = !run.empty() && run_rows + kept->num_rows() <= kCoalescedRows &&
                       run.back()->schema()->Equals(*kept->schema());
    if (!joins) ARROW_RETURN_NOT_OK(flush());
    run_rows += kept->num_rows();
    run.push_back(std::move(kept));
  }
  ARROW_RETURN_NOT_OK(flush());
  if (*first_rewritten < 0) *first_rewritten = first_row;
  return out;
}

}  // namespace

arrow::Result<std::unique_ptr<CompactionPlan>> Dataset::PlanCompaction(
    const std::optional<Roaring>& dropped, int threads, const std::function<bool()>& cancelled,
    uint64_t renumber_gone_keys) {
  auto plan = std::make_unique<CompactionPlan>();
  plan->start_ = std::chrono::steady_clock::now();
  plan->renumber_gone_keys_ = renumber_gone_keys;
  // Paused first, so that the view's graph is the one compacted below and stays whole.
  plan->paused_ = index_->PauseIndexing();
  const DatasetSnapshot view = Snapshot();
  if (dropped) {
    for (const uint32_t row : *dropped) {  // a replayed record: every row must be deleted
      if (!view.IsDeleted(row)) {
        return arrow::Status::Invalid("compaction of dataset '", name_, "' drops row ", row,
                                      ", which is not deleted");
      }
    }
    plan->dropped_ = *dropped;
  } else {
    plan->dropped_ = view.DeletedRows();
  }
  plan->covered_rows_ = view.num_rows;
  if (plan->dropped_.isEmpty()) return plan;
  // Compactions hold maintenance_mutex_, so the view's keys are the ones this plan replaces.
  std::optional<RowKeys> keys = view.row_keys().Compacted(plan->dropped_);
  if (!keys) {
    return arrow::Status::CapacityError("compaction of dataset '", name_,
                                        "': its row keys would pass 2^32");
  }
  plan->keys_ = std::make_shared<const RowKeys>(std::move(*keys));

  std::vector<RowRange> rewritten;
  int64_t dropped_below = 0;  // dropped rows of the segments before this one
  for (const SegmentView& segment : view.segments) {
    if (cancelled()) return arrow::Status::Cancelled("compaction abandoned");
    plan->segment_firsts_.push_back(segment.first_row - dropped_below);
    Roaring local = LocalRows(plan->dropped_, segment.first_row, segment.end_row());
    dropped_below += static_cast<int64_t>(local.cardinality());
    if (local.isEmpty()) {  // untouched: the same graph, moved down
      plan->graphs_.push_back(
          {std::const_pointer_cast<HnswIndex>(segment.graph), segment.indexed_rows});
      plan->local_dropped_.emplace_back();
      continue;
    }
    rewritten.push_back({segment.first_row, segment.end_row()});
    ARROW_ASSIGN_OR_RAISE(std::unique_ptr<HnswIndex> graph,
                          HnswCompaction::Compact(*segment.graph, local, threads));
    const int64_t linked = segment.linked_rows();
    plan->graphs_.push_back(
        {std::move(graph), linked - static_cast<int64_t>(roaring_bitmap_range_cardinality(
                                        &local.roaring, 0, static_cast<uint64_t>(linked)))});
    plan->local_dropped_.push_back(std::move(local));
  }
  ARROW_ASSIGN_OR_RAISE(plan->batches_, DropBatchRows(view.batches, plan->dropped_, rewritten,
                                                      cancelled, &plan->rewritten_from_));
  plan->bytes_ = BatchBytes(plan->batches_);
  if (view.text) {
    // The same index, renumbered: every dropped row is deleted, so out of the index already.
    plan->text_ = view.text->Compacted(
        plan->dropped_, view.num_rows - static_cast<int64_t>(plan->dropped_.cardinality()),
        renumber_gone_keys);
    if (!plan->text_) {  // past 32-bit keys, or many gone: indexed again, from 0
      plan->text_rebuilt_ = true;
      ARROW_ASSIGN_OR_RAISE(plan->text_, view.text->EmptyCopy());
      int64_t first_row = 0;
      for (const auto& batch : plan->batches_) {
        if (cancelled()) return arrow::Status::Cancelled("compaction abandoned");
        ARROW_RETURN_NOT_OK(plan->text_->Add(*batch, first_row));
        first_row += batch->num_rows();
      }
    }
  }
  return plan;
}

void Dataset::ExtendPlan(CompactionPlan& plan, const DatasetSnapshot& view) {
  const auto shift = static_cast<int64_t>(plan.dropped_.cardinality());
  int64_t first_row = 0;
  for (const auto& batch : view.batches) {
    if (first_row >= plan.covered_rows_) {
      plan.batches_.push_back(batch);
      plan.bytes_ += arrow::util::TotalBufferSize(*batch);
      // A shared text index has them already (Publish adds them to whichever view it holds;
      // both number them alike); a rebuilt one takes them here.
      if (plan.text_rebuilt_) IndexText(plan.text_.get(), *batch, std::nullopt, first_row - shift);
    }
    first_row += batch->num_rows();
  }
  plan.covered_rows_ = std::max(plan.covered_rows_, view.num_rows);
}

CompactionReport Dataset::PublishCompaction(CompactionPlan& plan, uint64_t turn, uint64_t lsn) {
  // The rows published while the plan was made and logged: the bulk of them without the turn,
  // so that appends wait for the turn only while the last few are added.
  ExtendPlan(plan, Snapshot());
  DatasetSnapshot last;
  {
    WriterLock state(&state_mutex_);
    while (next_to_publish_ != turn) turn_.Wait(&state_mutex_);
    last = SnapshotLocked();
  }
  // Holding the turn, the state cannot change under us: appends and deletes publish in turn
  // order (and deletes wait for the caller's delete mutex besides). Readers go on meanwhile.
  ExtendPlan(plan, last);
  const Roaring& dropped = plan.dropped_;
  // Each segment's deleted rows afterwards: a rewritten segment's renumbered in its local
  // numbering (those deleted since the plan stay deleted); every other segment keeps its set
  // object (no renumbering: its local rows did not move).
  std::vector<std::shared_ptr<const TombstoneSet>> deleted;
  deleted.reserve(last.segments.size());
  for (size_t s = 0; s < last.segments.size(); ++s) {
    const std::shared_ptr<const TombstoneSet>& set = last.segments[s].deleted;
    if (s >= plan.local_dropped_.size() || plan.local_dropped_[s].isEmpty()) {
      deleted.push_back(set);
      continue;
    }
    deleted.push_back(std::make_shared<const TombstoneSet>(
        CompactedRowNumbers(set->rows(), plan.local_dropped_[s])));
  }
  if (plan.text_rebuilt_) {  // numbered like the compacted rows
    for (size_t s = 0; s < deleted.size(); ++s) {
      const int64_t first =
          s < plan.segment_firsts_.size()
              ? plan.segment_firsts_[s]
              : last.segments[s].first_row - static_cast<int64_t>(dropped.cardinality());
      for (const uint32_t row : deleted[s]->rows()) {
        plan.text_->Remove(static_cast<uint32_t>(first + row));
      }
    }
  }
  const auto reclaimed_rows = static_cast<int64_t>(dropped.cardinality());
  CompactionReport report;
  // The compacted rows and the id map renumbered with them in one step for the map's readers
  // (MappedRowsOf); uncontended for a dataset without one.
  WriterLock map(&id_map_mutex_);
  {
    WriterLock state(&state_mutex_);
    report.reclaimed_bytes = num_bytes_ - plan.bytes_;
    if (!dropped_) budget_->Release(report.reclaimed_bytes);  // a drop released them all
    batches_ = std::move(plan.batches_);
    num_rows_ -= reclaimed_rows;
    charged_rows_ -= reclaimed_rows;  // ChargeIndexMemory below releases their index memory
    num_bytes_ = plan.bytes_;
    text_ = std::move(plan.text_);
    keys_ = std::move(plan.keys_);
    // Segments sealed since the plan was made: moved down, their graphs (empty: indexing
    // paused) kept.
    const std::vector<DatasetIndex::SegmentGraph> now = index_->Graphs();
    for (size_t s = plan.graphs_.size(); s < now.size(); ++s) {
      plan.segment_firsts_.push_back(segment_firsts_[s] - reclaimed_rows);
      plan.graphs_.push_back(now[s]);
    }
    segment_firsts_ = std::move(plan.segment_firsts_);
    // Segments sealed since `last` (none: the turn is held) would have empty sets.
    deleted.resize(segment_firsts_.size(), TombstoneSet::Empty());
    segment_deleted_ = std::move(deleted);
    index_->Replace(std::move(plan.graphs_));
    // Rows below the first rewritten batch keep their batches, which still share their
    // graphs' vectors; from there on the batches are copies or views of replaced graphs (or of
    // later segments' graphs, shared again with them: the shared rows are a prefix).
    if (shared_rows_ > plan.rewritten_from_) {
      shared_allocated_bytes_ -= LentBytes(last.segments, plan.rewritten_from_, shared_rows_);
      shared_rows_ = plan.rewritten_from_;
    }
    published_lsn_ = std::max(published_lsn_, lsn);
    if (lsn == 0) layout_generation_ += 1;  // not logged: the snapshot thread must see it
    compaction_totals_.compactions += 1;
    compaction_totals_.reclaimed_rows += reclaimed_rows;
    report.rows = num_rows_;
    ++next_to_publish_;
    turn_.SignalAll();
  }
  if (layout_.unique_id) {  // renumbered as the rows were, under the caller's delete_mutex_
    // Only the dropped rows' entries change (IdRowMap::Compacted), read from the batches that
    // held them.
    if (arrow::Status mapped = id_rows_.Compacted(dropped, last.batches, plan.renumber_gone_keys_);
        !mapped.ok()) {
      spdlog::error("dataset '{}': renumbering the id map for a compaction failed: {}", name_,
                    mapped.ToString());
    }
  }
  const int64_t map_bytes = id_rows_.bytes();
  map.Unlock();
  plan.paused_.unlock();  // indexing resumes, on the compacted graph
  if (layout_.unique_id) ChargeIdMap(map_bytes);
  report.reclaimed_rows = reclaimed_rows;
  report.lsn = lsn;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - plan.start_).count();
  ChargeIndexMemory();  // the compacted graph and text index replace the old ones
  return report;
}

bool Dataset::ShouldRekey(const RowKeys& keys, int64_t rows, uint64_t rekey_gone_keys) {
  if (keys.identity()) return false;
  return rekey_gone_keys == 0 || keys.NextKey(rows) >= kRekeyKeys ||
         keys.WorthRenumbering(rows, rekey_gone_keys);
}

arrow::Result<CompactionReport> Dataset::Compact(const CommitLog& log, int threads,
                                                 const std::function<bool()>& cancelled,
                                                 double segment_fraction,
                                                 uint64_t rekey_gone_keys) {
  MutexLock maintenance(&maintenance_mutex_);
  // The deleted rows of the segments past the fraction (deleted now, so still deleted when
  // planned: rows are never undeleted); none past it: every deleted row, as without.
  std::optional<Roaring> selected;
  if (segment_fraction > 0) {
    const DatasetSnapshot view = Snapshot();
    Roaring rows = DeletedInSegmentsPast(view.segments, segment_fraction);
    if (!rows.isEmpty()) selected = std::move(rows);
  }
  ARROW_ASSIGN_OR_RAISE(
      std::unique_ptr<CompactionPlan> plan,
      PlanCompaction(
          selected, threads, [&] { return cancelled() || dropped(); }, rekey_gone_keys));
  if (plan->dropped().isEmpty()) return CompactionReport{};
  // Held until published: a delete resolved in the old numbering must not publish after it.
  MutexLock deletes(&delete_mutex_);
  if (cancelled()) return arrow::Status::Cancelled("compaction abandoned");
  const Roaring& dropped = plan->dropped();
  const auto dropped_rows = static_cast<int64_t>(dropped.cardinality());
  // Records by key name the same rows before and after the compaction: it logs nothing and is
  // durable with the next snapshot (dataset_compaction.h). A log of row numbers must log the
  // renumbering; a rekey logs the keys it retires (every gone one) and waits for the record.
  std::function<arrow::Result<WalPayload>(int64_t)> encode;
  Roaring retired;
  if (log.row_numbers()) {
    encode = [&](int64_t logged_rows) { return EncodeCompact(name_, dropped, logged_rows); };
  } else if (ShouldRekey(*plan->keys_, plan->covered_rows_ - dropped_rows, rekey_gone_keys)) {
    retired = plan->keys_->GoneKeys();
    // Compactions publish under delete_mutex_, which is held: the keys now are the plan's
    // before it, and the next key is the logged rows' plus their gone keys.
    const std::shared_ptr<const RowKeys> before = row_keys();
    encode = [&](int64_t logged_rows) {
      return EncodeRekey(name_, retired, before->NextKey(logged_rows));
    };
    plan->keys_ = std::make_shared<const RowKeys>();  // every gone key retired: key = row
  }
  ARROW_ASSIGN_OR_RAISE(
      QueuedChange change,
      LogChange(log, encode, -dropped_rows, -static_cast<int64_t>(retired.cardinality())));
  // Indexing resumes as the plan goes (on return): on the rows past the compacted graph.
  CompactionReport report = PublishCompaction(*plan, change.turn, change.ticket.lsn);
  report.retired_keys = retired.cardinality();
  if (report.retired_keys > 0) {
    spdlog::info("dataset '{}': {} row keys retired, keys renumbered densely (WAL record {})",
                 name_, report.retired_keys, change.ticket.lsn);
  }
  return report;
}

arrow::Status Dataset::CompactRecovered(const Roaring& dropped, uint64_t lsn) {
  MutexLock maintenance(&maintenance_mutex_);
  return ApplyRecoveredCompaction(dropped, std::nullopt, lsn);
}

arrow::Status Dataset::RekeyRecovered(const Roaring& retired, uint64_t lsn) {
  MutexLock maintenance(&maintenance_mutex_);
  // Replay is the dataset's only writer: its keys and row count are a consistent pair.
  const std::shared_ptr<const RowKeys> keys = row_keys();
  const uint64_t next_key = keys->NextKey(num_rows());
  Roaring dropped;  // rows replay has under a retired key
  for (const uint32_t key : retired) {
    if (key >= next_key) {
      return arrow::Status::Invalid("WAL record ", lsn, " retires row key ", key, " of dataset '",
                                    name_, "', past its next key ", next_key);
    }
    if (!keys->Gone(key)) dropped.add(static_cast<uint32_t>(keys->RowOf(key)));
  }
  return ApplyRecoveredCompaction(dropped, retired, lsn);
}

arrow::Status Dataset::ApplyRecoveredCompaction(const Roaring& dropped,
                                                const std::optional<Roaring>& retired,
                                                uint64_t lsn) {
  std::unique_ptr<CompactionPlan> plan;
  if (!dropped.isEmpty()) {
    auto planned =
        PlanCompaction(dropped, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
                       [] { return false; });
    if (!planned.ok()) {
      return planned.status().WithMessage("WAL record ", lsn, ": ", planned.status().message());
    }
    plan = std::move(*planned);
  }
  std::shared_ptr<const RowKeys> keys;  // the keys afterwards, when renumbered
  if (retired) {
    std::optional<RowKeys> renumbered = (plan ? *plan->keys_ : *row_keys()).Renumbered(*retired);
    if (!renumbered) {
      return arrow::Status::Invalid("WAL record ", lsn, " retires row keys of dataset '", name_,
                                    "' that rows still have");
    }
    keys = std::make_shared<const RowKeys>(std::move(*renumbered));
    if (plan) plan->keys_ = keys;
  }
  MutexLock deletes(&delete_mutex_);
  uint64_t turn;
  {
    MutexLock order(&append_mutex_);
    turn = TakeTurn();
    NoteLogged(lsn);
    logged_rows_ -= static_cast<int64_t>(dropped.cardinality());
    if (keys) next_key_ = keys->NextKey(logged_rows_);
  }
  if (plan) {
    PublishCompaction(*plan, turn, lsn);
  } else if (keys) {
    Resolve(
        turn, [&]() REQUIRES(state_mutex_) { keys_ = keys; }, lsn);
  } else {
    SkipTurn(turn);
  }
  return arrow::Status::OK();
}

CompactionTotals Dataset::compaction_totals() const {
  ReaderLock state(&state_mutex_);
  return compaction_totals_;
}

}  // namespace arbalest
