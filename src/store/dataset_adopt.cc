// Dataset::Commit of a SegmentMutation (declared in dataset.h): a sealed segment built on
// another node appended whole, its graph adopted rather than rebuilt. The same steps as every
// commit (dataset_commit.cc): validate and charge, queue the records in one turn, wait for the
// log without the mutexes, publish in the turn.
#include <arrow/util/byte_size.h>

#include "store/dataset.h"

namespace arbalest {

arrow::Status Dataset::CheckAdoptable(const HnswIndex& graph, int64_t rows) const {
  const IndexConfig& config = index_->config();
  if (graph.dim() != static_cast<size_t>(layout_.vector.dim) || graph.metric() != config.metric ||
      graph.element_type() != config.element_type || graph.params().m != config.params.m ||
      graph.params().quantization != config.params.quantization) {
    return arrow::Status::Invalid("a segment's graph does not fit dataset '", name_, "': dim ",
                                  graph.dim(), " (want ", layout_.vector.dim, "), metric ",
                                  MetricName(graph.metric()), " (want ", MetricName(config.metric),
                                  "), M ", graph.params().m, " (want ", config.params.m,
                                  "), element type or quantization as the dataset's: ",
                                  graph.element_type() == config.element_type &&
                                      graph.params().quantization == config.params.quantization);
  }
  if (static_cast<int64_t>(graph.size()) != rows) {
    return arrow::Status::Invalid("a segment of ", rows, " rows whose graph holds ", graph.size());
  }
  return arrow::Status::OK();
}

void Dataset::ReleaseSegmentCharges(int64_t rows, int64_t bytes, int64_t index_bytes) {
  budget_->Release(bytes);
  WriterLock state(&state_mutex_);
  if (dropped_) return;  // the drop released the index memory charged for the rows
  charged_rows_ -= rows;
  index_memory_.fetch_sub(index_bytes, std::memory_order_relaxed);
  budget_->Release(index_bytes);
}

arrow::Result<Committed> Dataset::Commit(const SegmentMutation& segment, const CommitLog& log) {
  if (layout_.unique_id || layout_.id_kind == IdKind::kAssigned) {
    return arrow::Status::NotImplemented("dataset '", name_, "' cannot adopt a segment: its ids ",
                                         layout_.unique_id ? "are unique" : "are assigned here");
  }
  if (!segment.graph) return arrow::Status::Invalid("a segment without a graph");
  int64_t rows = 0;
  for (const auto& batch : segment.batches) rows += batch->num_rows();
  if (rows == 0) return arrow::Status::Invalid("a segment without rows");
  ARROW_RETURN_NOT_OK(CheckAdoptable(*segment.graph, rows));
  if (!segment.deleted.isEmpty() && segment.deleted.maximum() >= static_cast<uint64_t>(rows)) {
    return arrow::Status::Invalid("a segment of ", rows, " rows deletes its row ",
                                  segment.deleted.maximum());
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<HnswIndex> fresh, index_->NewGraph());

  // The order of a compaction: indexing paused, then the deletes', then the appends' mutex.
  // No graph changes until the segment is published, and no delete resolves rows meanwhile.
  const auto paused = index_->PauseIndexing();
  MutexLock deletes(&delete_mutex_);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t bytes = 0;
  int64_t index_bytes = 0;
  uint64_t turn = 0;
  arrow::Result<std::vector<WalTicket>> queued;
  {
    MutexLock order(&append_mutex_);
    AwaitNoDrop();
    ARROW_RETURN_NOT_OK(CheckKeysLeft(rows));
    const std::shared_ptr<arrow::Schema> stored = schema();
    for (const auto& batch : segment.batches) {
      ARROW_ASSIGN_OR_RAISE(ConformedBatch conformed,
                            ConformBatch(batch, stored, layout_, next_assigned_id_, name_));
      if (conformed.evolved_schema) {
        return arrow::Status::Invalid("a segment's rows hold columns that dataset '", name_,
                                      "' lacks: ", batch->schema()->ToString());
      }
      bytes += arrow::util::TotalBufferSize(*conformed.batch);
      batches.push_back(std::move(conformed.batch));
    }
    {
      WriterLock state(&state_mutex_);
      if (dropped_) return arrow::Status::KeyError("dataset '", name_, "' was deleted");
      if (num_rows_ < restored_segment_rows_) {
        return arrow::Status::NotImplemented("dataset '", name_,
                                             "' is still loading its snapshot's segments");
      }
      int64_t charged_rows = 0;
      int64_t charged_bytes = 0;
      for (const auto& batch : batches) {
        const int64_t batch_bytes = arrow::util::TotalBufferSize(*batch);
        auto charged = ChargeRowsLocked(*batch, batch_bytes, ChargeMode::kRefusable);
        if (!charged.ok()) {  // the batches charged before it taken back
          budget_->Release(charged_bytes + index_bytes);
          charged_rows_ -= charged_rows;
          index_memory_.fetch_sub(index_bytes, std::memory_order_relaxed);
          return charged.status();
        }
        charged_rows += batch->num_rows();
        charged_bytes += batch_bytes;
        index_bytes += *charged;
      }
    }
    std::vector<arrow::Result<WalPayload>> records;
    // The rows' keys (or, logging row numbers, their numbers) follow the dataset's.
    const uint64_t first = log.row_numbers() ? static_cast<uint64_t>(logged_rows_) : next_key_;
    uint64_t at = first;
    for (const auto& batch : batches) {
      records.push_back(log.row_numbers() ? EncodeAppend(name_, *batch, static_cast<int64_t>(at))
                                          : EncodeKeyedAppend(name_, *batch, at));
      at += static_cast<uint64_t>(batch->num_rows());
    }
    if (!segment.deleted.isEmpty()) {
      Roaring named;
      for (const uint32_t row : segment.deleted) named.add(static_cast<uint32_t>(row + first));
      records.push_back(log.row_numbers() ? EncodeDelete(name_, named, static_cast<int64_t>(at))
                                          : EncodeKeyedDelete(name_, named));
    }
    queued = log.EnqueueAll(std::move(records), [this, rows] { RevertLoggedRows(rows, rows); });
    if (queued.ok()) {
      turn = TakeTurn();
      if (log.attached()) NoteLogged(queued->back().lsn);
      logged_rows_ += rows;
      next_key_ += static_cast<uint64_t>(rows);
    }
  }
  // Given back off append_mutex_, as an append's (the log's take-backs need it).
  if (!queued.ok()) {
    ReleaseSegmentCharges(rows, bytes, index_bytes);
    return queued.status();
  }
  const std::vector<WalTicket> tickets = std::move(*queued);
  for (const WalTicket& ticket : tickets) {
    if (arrow::Status durable = log.Wait(ticket); !durable.ok()) {
      ReleaseSegmentCharges(rows, bytes, index_bytes);
      SkipTurn(turn);
      return durable;
    }
  }

  std::optional<int64_t> first_row;
  std::shared_ptr<DatasetText> text;
  Resolve(
      turn,
      [&]() REQUIRES(state_mutex_) {
        if (dropped_) {
          budget_->Release(bytes);  // logged before the drop, published after it: never visible
          return;
        }
        first_row = num_rows_;
        const bool replace_active = num_rows_ == segment_firsts_.back();
        index_->AdoptSegment(segment.graph, std::move(fresh), replace_active);
        if (!replace_active) segment_firsts_.push_back(num_rows_);
        for (const auto& batch : batches) batches_.push_back(batch);
        num_rows_ += rows;
        num_bytes_ += bytes;
        segment_firsts_.push_back(num_rows_);
        if (!segment.deleted.isEmpty()) {
          Roaring deleted;
          for (const uint32_t row : segment.deleted) deleted.add(row + *first_row);
          AddDeletedLocked(deleted);
        }
        // The segments changed without a merge: a delete that read the sets before this
        // publication (PublishDeletes) must build its sets again under the lock, since the
        // adopted segment may have taken the empty active segment's place.
        layout_generation_ += 1;
        text = text_;
      },
      tickets.back().lsn);
  if (first_row && text) {
    int64_t at = *first_row;
    for (const auto& batch : batches) {
      IndexText(text.get(), *batch, std::nullopt, at);
      at += batch->num_rows();
    }
    for (const uint32_t row : segment.deleted) text->Remove(row + *first_row);
  }
  return Committed{rows, bytes, tickets.back().lsn};
}

}  // namespace arbalest
