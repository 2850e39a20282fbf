// Dataset::Commit of a SegmentMutation (declared in dataset.h): a sealed segment built on
// another node appended whole, its graph adopted rather than rebuilt. The same steps as every
// commit (dataset_commit.cc): validate and charge, queue the records in one turn, wait for the
// log without the mutexes, publish in the turn.
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

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

arrow::Status Dataset::FindRowsOfHeldIds(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, Roaring* rows) const {
  // Under delete_mutex_ no put of the dataset (its ids are unique) or delete publishes: the map
  // and the view agree.
  ReaderLock map(&id_map_mutex_);
  const DatasetSnapshot now = Snapshot();
  int64_t local = 0;
  for (const auto& batch : batches) {
    ARROW_ASSIGN_OR_RAISE(std::vector<int64_t> held,
                          id_rows_.RowOfEach(*batch->GetColumnByName(std::string(kIdColumn))));
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      const int64_t row = held[static_cast<size_t>(i)];
      if (row >= 0 && !now.IsDeleted(row)) rows->add(static_cast<uint32_t>(local + i));
    }
    local += batch->num_rows();
  }
  return arrow::Status::OK();
}

arrow::Result<Committed> Dataset::Commit(const SegmentMutation& segment, const CommitLog& log) {
  if (layout_.id_kind == IdKind::kAssigned) {
    return arrow::Status::NotImplemented("dataset '", name_,
                                         "' cannot adopt a segment: its ids are assigned here");
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
  Roaring deleted = segment.deleted;  // local rows
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
    if (layout_.unique_id) ARROW_RETURN_NOT_OK(FindRowsOfHeldIds(batches, &deleted));
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
    // The rows' keys (or, logging row numbers, their numbers) follow the dataset's. A batch
    // with rows deleted at adoption is an upsert of its own rows: appended and deleted in one
    // record, so that no replay maps their ids (IdRowMap::Assign) or shows them undeleted.
    const uint64_t first = log.row_numbers() ? static_cast<uint64_t>(logged_rows_) : next_key_;
    uint64_t at = first;
    for (const auto& batch : batches) {
      const uint64_t local = at - first;
      const auto end = static_cast<uint32_t>(local + static_cast<uint64_t>(batch->num_rows()));
      Roaring own;
      own.addRange(local, end);
      own &= deleted;
      Roaring named;  // as keys (or row numbers)
      for (const uint32_t row : own) named.add(static_cast<uint32_t>(row + first));
      if (log.row_numbers()) {
        records.push_back(named.isEmpty()
                              ? EncodeAppend(name_, *batch, static_cast<int64_t>(at))
                              : EncodeUpsert(name_, *batch, named, static_cast<int64_t>(at)));
      } else {
        records.push_back(named.isEmpty() ? EncodeKeyedAppend(name_, *batch, at)
                                          : EncodeKeyedUpsert(name_, *batch, named, at));
      }
      at += static_cast<uint64_t>(batch->num_rows());
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
  Roaring deleted_rows;  // dataset rows, once published
  std::shared_ptr<DatasetText> text;
  auto publish = [&] {
    Resolve(
        turn,
        [&]() REQUIRES(state_mutex_) {
          if (ReleaseIfDroppedLocked(bytes)) return;
          first_row = num_rows_;
          const bool replace_active = num_rows_ == segment_firsts_.back();
          index_->AdoptSegment(segment.graph, std::move(fresh), replace_active);
          if (!replace_active) segment_firsts_.push_back(num_rows_);
          for (const auto& batch : batches) batches_.push_back(batch);
          num_rows_ += rows;
          num_bytes_ += bytes;
          segment_firsts_.push_back(num_rows_);
          for (const uint32_t row : deleted) deleted_rows.add(row + *first_row);
          if (!deleted_rows.isEmpty()) AddDeletedLocked(deleted_rows);
          // The segments changed without a merge: a delete that read the sets before this
          // publication (PublishDeletes) must build its sets again under the lock, since the
          // adopted segment may have taken the empty active segment's place.
          layout_generation_ += 1;
          text = text_;
        },
        tickets.back().lsn);
  };
  if (layout_.unique_id) {
    int64_t map_bytes = 0;
    {
      // The rows and their ids' entries in one step for MappedRowsOf, as an append's.
      WriterLock map(&id_map_mutex_);
      publish();
      int64_t at = first_row.value_or(0);
      for (const auto& batch : batches) {
        if (!first_row) break;
        const arrow::Status mapped =
            id_rows_.Assign(*batch->GetColumnByName(std::string(kIdColumn)), at, deleted_rows);
        if (!mapped.ok()) {  // conformed: the ids are the dataset's, never null
          spdlog::error("dataset '{}': mapping the ids of adopted rows {}..{} failed: {}", name_,
                        at, at + batch->num_rows() - 1, mapped.ToString());
        }
        at += batch->num_rows();
      }
      map_bytes = id_rows_.bytes();
    }
    ChargeIdMap(map_bytes);
  } else {
    publish();
  }
  if (first_row && text) {
    int64_t at = *first_row;
    for (const auto& batch : batches) {
      IndexText(text.get(), *batch, std::nullopt, at);
      at += batch->num_rows();
    }
    for (const uint32_t row : deleted_rows) text->Remove(row);
  }
  return Committed{rows, bytes, tickets.back().lsn};
}

}  // namespace arbalest
