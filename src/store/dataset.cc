#include "store/dataset.h"

#include <arrow/array.h>
#include <arrow/status.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "store/vector_sharing.h"

namespace arbalest {
namespace {

// Whether a logged batch of `logged` schema fits a dataset storing `stored`: the same fields
// first, maybe nullable ones after (added by schema evolution).
bool FitsStoredSchema(const arrow::Schema& logged, const arrow::Schema& stored) {
  if (logged.num_fields() < stored.num_fields()) return false;
  for (int i = 0; i < stored.num_fields(); ++i) {
    if (!logged.field(i)->Equals(*stored.field(i))) return false;
  }
  return true;
}

}  // namespace

arrow::Result<std::shared_ptr<Dataset>> Dataset::Create(
    std::string name, const arrow::Schema& put_schema, MemoryBudget* budget,
    const std::vector<DatasetIndex::GraphFile>& graph_files, ChargeMode mode) {
  ARROW_ASSIGN_OR_RAISE(DatasetLayout layout, InspectPutSchema(put_schema));
  ARROW_ASSIGN_OR_RAISE(auto schema, StoredSchemaFor(put_schema));
  ARROW_ASSIGN_OR_RAISE(IndexConfig config, IndexConfigFor(*schema, layout));
  std::unique_ptr<DatasetIndex> index;
  if (graph_files.empty()) {
    ARROW_ASSIGN_OR_RAISE(index, DatasetIndex::Make(config, layout.vector.dim));
  } else {
    ARROW_ASSIGN_OR_RAISE(index, DatasetIndex::Load(config, layout.vector.dim, graph_files));
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<DatasetText> text, DatasetText::Make(*schema));
  std::shared_ptr<Dataset> dataset(
      new Dataset(std::move(name), std::make_shared<arrow::Schema>(put_schema), std::move(schema),
                  std::move(layout), std::move(index), std::move(text), budget));
  // The fixed cost, charged before the dataset is shared: released by the destructor.
  const int64_t fixed = kFixedBytes + dataset->IndexReservation(0);
  ARROW_RETURN_NOT_OK(
      budget->Charge(fixed, mode, "creating dataset '" + dataset->name() + "' (empty)"));
  dataset->index_memory_.store(fixed, std::memory_order_relaxed);
  return dataset;
}

Dataset::Dataset(std::string name, std::shared_ptr<arrow::Schema> put_schema,
                 std::shared_ptr<arrow::Schema> schema, DatasetLayout layout,
                 std::unique_ptr<DatasetIndex> index, std::shared_ptr<DatasetText> text,
                 MemoryBudget* budget)
    : name_(std::move(name)),
      put_schema_(std::move(put_schema)),
      layout_(std::move(layout)),
      vector_column_(schema->GetFieldIndex(layout_.vector.column)),
      index_(std::move(index)),
      index_model_(index_->Graphs().front().graph->memory_model()),
      fallback_model_(index_->Graphs().front().graph->fallback_memory_model()),
      segment_max_bytes_(index_->config().segment_max_bytes > 0 ? index_->config().segment_max_bytes
                                                                : DefaultSegmentMaxBytes()),
      vector_row_bytes_(int64_t{layout_.vector.dim} * layout_.vector.value_type->byte_width()),
      budget_(budget),
      schema_(std::move(schema)),
      text_(std::move(text)),
      graph_(std::make_unique<DatasetGraph>(DatasetGraph::Memory{
          [budget](int64_t bytes) { return budget->Charge(bytes, "these edges"); },
          [budget](int64_t delta) { budget->Adjust(delta); }})) {}

Dataset::~Dataset() {
  // A dropped dataset gave its bytes back when it was dropped.
  if (!dropped_) budget_->Release(num_bytes_ + index_memory_.load(std::memory_order_relaxed));
}

arrow::Status Dataset::CheckPutSchema(const arrow::Schema& put_schema) const {
  return arbalest::CheckPutSchema(put_schema, *schema(), layout_, name_);
}

int64_t Dataset::IndexReservation(int64_t rows) const {
  // A graph mapped from a snapshot holds its rows in the file's pages, not in charged memory.
  return IndexModel().BytesFor(std::max<int64_t>(0, rows - index_->restored_rows()));
}

void Dataset::NoteInt8FallbackLocked() {
  if (int8_fell_back_.load(std::memory_order_acquire) ||
      index_model_.build_copy_bytes_per_row == fallback_model_.build_copy_bytes_per_row ||
      !index_->int8_fell_back()) {
    return;
  }
  const int64_t before = IndexReservation(charged_rows_);
  int8_fell_back_.store(true, std::memory_order_release);
  const int64_t more = IndexReservation(charged_rows_) - before;
  budget_->Adjust(more);
  index_memory_.fetch_add(more, std::memory_order_relaxed);
}

arrow::Result<int64_t> Dataset::ChargeRowsLocked(const arrow::RecordBatch& batch, int64_t bytes,
                                                 ChargeMode index_mode) {
  NoteInt8FallbackLocked();
  const int64_t rows = batch.num_rows();
  const int64_t index_bytes =
      IndexReservation(charged_rows_ + rows) - IndexReservation(charged_rows_);
  if (index_mode == ChargeMode::kRefusable) {
    ARROW_RETURN_NOT_OK(budget_->Charge(
        bytes + index_bytes, "this batch (" + std::to_string(bytes) + " bytes of " +
                                 std::to_string(rows) + " rows, and " +
                                 std::to_string(index_bytes) + " bytes of index for them)"));
  } else {
    ARROW_RETURN_NOT_OK(budget_->Charge(bytes));
    budget_->Adjust(index_bytes);
  }
  charged_rows_ += rows;
  index_memory_.fetch_add(index_bytes, std::memory_order_relaxed);
  return index_bytes;
}

arrow::Result<Dataset::PreparedAppend> Dataset::Prepare(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(ConformedBatch conformed,
                        ConformBatch(batch, schema(), layout_, next_assigned_id_, name_));
  const int64_t bytes = arrow::util::TotalBufferSize(*conformed.batch);
  int64_t index_bytes = 0;
  {
    WriterLock state(&state_mutex_);
    if (dropped_) {
      return arrow::Status::KeyError("dataset '", name_, "' was deleted during the put");
    }
    ARROW_ASSIGN_OR_RAISE(index_bytes,
                          ChargeRowsLocked(*conformed.batch, bytes, ChargeMode::kRefusable));
    // A new column is visible at once: earlier batches read null for it anyway.
    if (conformed.evolved_schema) schema_ = conformed.evolved_schema;
  }
  if (layout_.id_kind == IdKind::kAssigned) {
    next_assigned_id_ += static_cast<uint64_t>(conformed.batch->num_rows());
  }
  return PreparedAppend{std::move(conformed.batch),
                        bytes,
                        index_bytes,
                        next_ticket_++,
                        std::nullopt,
                        WalTicket{},
                        Roaring()};
}

void Dataset::TokenizeText(PreparedAppend* prepared) const {
  const std::shared_ptr<DatasetText> text = this->text();
  if (!text) return;
  auto tokenized = text->Tokenize(*prepared->batch);
  if (tokenized.ok()) prepared->text = std::move(*tokenized);  // else Publish fails it again
}

arrow::Status Dataset::ResolveReplaced(PreparedAppend* prepared) {
  if (!layout_.unique_id) return arrow::Status::OK();
  const arrow::Array& ids = *prepared->batch->GetColumnByName(std::string(kIdColumn));
  ReaderLock map(&id_map_mutex_);
  ARROW_ASSIGN_OR_RAISE(prepared->replaced, id_rows_.Replaced(ids, logged_rows_));
  return arrow::Status::OK();
}

void Dataset::Publish(PreparedAppend& prepared) {
  std::shared_ptr<DatasetText> text;
  const std::optional<int64_t> first_row =
      PublishMapped(prepared.ticket, prepared.batch, prepared.bytes, prepared.record.lsn, &text,
                    prepared.replaced);
  IndexText(text.get(), *prepared.batch, std::exchange(prepared.text, std::nullopt), first_row);
  RemoveReplacedText(text.get(), prepared.replaced, first_row);
}

std::optional<int64_t> Dataset::PublishMapped(uint64_t ticket,
                                              const std::shared_ptr<arrow::RecordBatch>& batch,
                                              int64_t bytes, uint64_t lsn,
                                              std::shared_ptr<DatasetText>* text,
                                              const Roaring& replaced, const Roaring& deleted) {
  if (!layout_.unique_id) return PublishBatch(ticket, batch, bytes, lsn, text, replaced);
  // Every put into a dataset whose ids are unique publishes under delete_mutex_
  // (Commit, AppendRecovered); the analysis cannot see that through Publish.
  delete_mutex_.AssertHeld();
  int64_t map_bytes = 0;
  std::optional<int64_t> first_row;
  {
    // The rows and their ids' entries in one step for MappedRowsOf.
    WriterLock map(&id_map_mutex_);
    first_row = PublishBatch(ticket, batch, bytes, lsn, text, replaced);
    if (!first_row) return first_row;
    const arrow::Status mapped =
        id_rows_.Assign(*batch->GetColumnByName(std::string(kIdColumn)), *first_row,
                        deleted.isEmpty() ? replaced : (replaced | deleted));
    if (!mapped.ok()) {  // the batch was conformed: its ids are the dataset's, never null
      spdlog::error("dataset '{}': mapping the ids of rows {}..{} failed: {}", name_, *first_row,
                    *first_row + batch->num_rows() - 1, mapped.ToString());
    }
    map_bytes = id_rows_.bytes();
  }
  ChargeIdMap(map_bytes);
  return first_row;
}

void Dataset::RemoveReplacedText(DatasetText* text, const Roaring& replaced,
                                 std::optional<int64_t> first_row) {
  if (!first_row || !text) return;
  // After the batch's own rows were added: a repeated id's earlier rows are among them.
  for (const uint32_t row : replaced) text->Remove(row);
}

arrow::Result<std::optional<Dataset::MappedRows>> Dataset::MappedRowsOf(
    const arrow::Array& ids) const {
  if (!layout_.unique_id) return std::nullopt;
  ReaderLock map(&id_map_mutex_);
  MappedRows found{Snapshot(), Roaring()};
  ARROW_ASSIGN_OR_RAISE(found.rows, id_rows_.Rows(ids));
  return found;
}

void Dataset::ChargeIdMap(int64_t bytes) {
  WriterLock state(&state_mutex_);
  if (dropped_) return;
  const int64_t delta = bytes - std::exchange(id_map_bytes_, bytes);
  index_memory_.fetch_add(delta, std::memory_order_relaxed);
  budget_->Adjust(delta);
}

void Dataset::Discard(const PreparedAppend& prepared) {
  budget_->Release(prepared.bytes);
  {
    WriterLock state(&state_mutex_);
    if (!dropped_) {  // else the drop released the index memory charged for its rows
      charged_rows_ -= prepared.batch->num_rows();
      index_memory_.fetch_sub(prepared.index_bytes, std::memory_order_relaxed);
      budget_->Release(prepared.index_bytes);
    }
  }
  Resolve(prepared.ticket, nullptr, 0);
}

void Dataset::Resolve(uint64_t ticket, const std::function<void()>& publish, uint64_t lsn) {
  WriterLock state(&state_mutex_);
  // Changes logged earlier are durable no later than this one, so their threads are already
  // awake and about to resolve them: the wait is short.
  while (next_to_publish_ != ticket) turn_.Wait(&state_mutex_);
  if (publish) {
    publish();
    published_lsn_ = std::max(published_lsn_, lsn);
  }
  ++next_to_publish_;
  turn_.SignalAll();
}

bool Dataset::ReleaseIfDroppedLocked(int64_t bytes) {
  if (dropped_) budget_->Release(bytes);
  return dropped_;
}

std::optional<int64_t> Dataset::PublishBatch(uint64_t ticket,
                                             const std::shared_ptr<arrow::RecordBatch>& batch,
                                             int64_t bytes, uint64_t lsn,
                                             std::shared_ptr<DatasetText>* text,
                                             const Roaring& replaced) {
  std::optional<int64_t> first_row;
  Resolve(
      ticket,
      [&]() REQUIRES(state_mutex_) {
        if (ReleaseIfDroppedLocked(bytes)) return;
        SealIfFullLocked();
        first_row = num_rows_;
        *text = text_;
        batches_.push_back(batch);
        num_rows_ += batch->num_rows();
        num_bytes_ += bytes;
        // After the seal: the batch's own rows among them go to the segment that took it.
        // Only the sets of the segments holding them are copied (the caller holds
        // delete_mutex_, so no other change of the sets publishes meanwhile).
        if (!replaced.isEmpty()) AddDeletedLocked(replaced);
      },
      lsn);
  return first_row;
}

// Outside the state lock, so that readers never wait for the text index, and batches that were
// not tokenized ahead tokenize in parallel. A search that runs meanwhile may see the rows in its
// snapshot before the text index has them; the put is acked only after this, so any search that
// starts after the ack finds them.
void Dataset::IndexText(DatasetText* text, const arrow::RecordBatch& batch,
                        std::optional<TextIndex::TokenizedRows> tokenized,
                        std::optional<int64_t> first_row) {
  if (!text || !first_row) return;
  const arrow::Status status =
      tokenized ? text->Add(std::move(*tokenized), *first_row) : text->Add(batch, *first_row);
  if (!status.ok()) {
    spdlog::error("text indexing of dataset '{}' rows {}..{} failed: {}", name_, *first_row,
                  *first_row + batch.num_rows() - 1, status.ToString());
  }
}

void Dataset::RevertLoggedRows(int64_t rows, int64_t keys) {
  MutexLock order(&append_mutex_);
  logged_rows_ -= rows;
  next_key_ -= static_cast<uint64_t>(keys);
}

int64_t Dataset::num_rows() const {
  ReaderLock state(&state_mutex_);
  return num_rows_;
}

arrow::Status Dataset::AppendRecovered(const std::shared_ptr<arrow::RecordBatch>& batch,
                                       uint64_t lsn, const Roaring& replaced,
                                       const Roaring& deleted) {
  MutexLock deletes(&delete_mutex_);  // for the replaced rows and the id map
  MutexLock order(&append_mutex_);
  if (!replaced.isEmpty() && replaced.maximum() >= logged_rows_ + batch->num_rows()) {
    return arrow::Status::Invalid("WAL record ", lsn, " replaces row ", replaced.maximum(),
                                  " of dataset '", name_, "', which has ", logged_rows_,
                                  " rows and appends ", batch->num_rows());
  }
  // Logged batches are conformed (the stored columns in order, then any new ones), and replay
  // reads them by position: a record that does not fit would be read as the wrong columns.
  if (const auto stored = schema(); !FitsStoredSchema(*batch->schema(), *stored)) {
    return arrow::Status::Invalid("WAL record ", lsn, " appends a batch of schema ",
                                  batch->schema()->ToString(), " to dataset '", name_,
                                  "', whose rows have schema ", stored->ToString());
  }
  const int64_t bytes = arrow::util::TotalBufferSize(*batch);
  {
    // The rows' index memory is counted, never refused: the rows were promised.
    WriterLock state(&state_mutex_);
    ARROW_RETURN_NOT_OK(ChargeRowsLocked(*batch, bytes, ChargeMode::kAlways).status());
  }
  if (layout_.id_kind == IdKind::kAssigned && batch->num_rows() > 0) {
    const auto& ids = static_cast<const arrow::UInt64Array&>(*batch->column(0));
    next_assigned_id_ = ids.Value(ids.length() - 1) + 1;
  }
  {
    WriterLock state(&state_mutex_);
    if (batch->num_columns() > schema_->num_fields()) schema_ = batch->schema();
  }
  NoteLogged(lsn);
  logged_rows_ += batch->num_rows();
  next_key_ += static_cast<uint64_t>(batch->num_rows());
  std::shared_ptr<DatasetText> text;
  const std::optional<int64_t> first_row =
      PublishMapped(next_ticket_++, batch, bytes, lsn, &text, replaced, deleted);
  IndexText(text.get(), *batch, std::nullopt, first_row);
  RemoveReplacedText(text.get(), replaced, first_row);
  return arrow::Status::OK();
}

void Dataset::set_created_lsn(uint64_t lsn) {
  logged_lsn_.store(std::max(logged_lsn_.load(), lsn));
  WriterLock state(&state_mutex_);
  created_lsn_ = lsn;
  published_lsn_ = std::max(published_lsn_, lsn);
}

uint64_t Dataset::created_lsn() const {
  ReaderLock state(&state_mutex_);
  return created_lsn_;
}

void Dataset::set_saved_snapshot(SavedSnapshot saved) {
  if (logged_lsn_.load() < saved.lsn) logged_lsn_.store(saved.lsn);  // loaded from it
  WriterLock state(&state_mutex_);
  layout_generation_ = std::max(layout_generation_, saved.layout);
  saved_ = std::move(saved);
  published_lsn_ = std::max(published_lsn_, saved_.lsn);
}

uint64_t Dataset::layout_generation() const {
  ReaderLock state(&state_mutex_);
  return layout_generation_;
}

SavedSnapshot Dataset::saved_snapshot() const {
  ReaderLock state(&state_mutex_);
  return saved_;
}

uint64_t Dataset::FirstNeededLsn(uint64_t next_lsn) {
  // Under the append mutex, every change queued to the log so far is counted in logged_lsn_;
  // any later one gets an LSN >= next_lsn.
  MutexLock order(&append_mutex_);
  ReaderLock state(&state_mutex_);
  if (saved_.lsn == 0) return created_lsn_;
  return logged_lsn_.load(std::memory_order_relaxed) > saved_.lsn ? saved_.lsn + 1 : next_lsn;
}

arrow::Result<int64_t> Dataset::CatchUpIndex(int64_t max_rows, int threads,
                                             const std::function<bool()>& stop,
                                             bool share_vectors) {
  // Counted until the bookkeeping after the graph's growth is done too (see indexing()).
  struct Turn {
    explicit Turn(std::atomic<int>& turns) : turns(turns) { turns.fetch_add(1); }
    ~Turn() { turns.fetch_sub(1); }
    std::atomic<int>& turns;
  } turn(indexing_turns_);
  auto added = index_->CatchUp(Snapshot(), vector_column_, max_rows, threads,
                               [&] { return stop() || dropped(); });
  if (added.ok() && share_vectors) {
    if (arrow::Status shared = ShareIndexedVectors(); !shared.ok()) {
      spdlog::warn("dataset '{}' keeps a second copy of its vectors: {}", name_, shared.ToString());
    }
  }
  ChargeIndexMemory();
  return added;
}

arrow::Status Dataset::ShareIndexedVectors() {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(const bool next_segment, ShareSegmentVectors());
    if (!next_segment) return arrow::Status::OK();
  }
}

arrow::Result<bool> Dataset::ShareSegmentVectors() {
  // No compaction renumbers the rows meanwhile (it pauses indexing from plan to publication).
  const auto paused = index_->PauseIndexing();
  DatasetSnapshot view = Snapshot();
  int64_t start = 0;
  {
    ReaderLock state(&state_mutex_);
    if (!vectors_shareable_ || dropped_) return false;
    start = shared_rows_;
  }
  // The segment holding the first row not shared yet.
  const auto segment = std::find_if(view.segments.begin(), view.segments.end(),
                                    [start](const SegmentView& s) { return s.end_row() > start; });
  if (segment == view.segments.end()) return false;
  // The rows from the first one not shared yet to the end of the last full chunk indexed: each
  // chunk becomes one batch. A batch that crosses that end is cut; its rest is copied (so that it
  // does not keep the whole batch alive), and shared once the next chunk fills. A sealed
  // segment whose rows are all linked is shared to its end.
  const auto chunk = static_cast<int64_t>(segment->graph->rows().rows_per_chunk());
  const bool sealed = segment + 1 != view.segments.end();
  const int64_t linked = segment->linked_rows();
  const int64_t end = segment->first_row +
                      (sealed && linked == segment->rows ? segment->rows : linked / chunk * chunk);
  if (end <= start) return false;
  size_t first = 0;
  int64_t first_row = 0;
  while (first_row < start) first_row += view.batches[first++]->num_rows();
  if (first_row != start) {  // shared rows always end where a batch ends
    return arrow::Status::UnknownError("no batch of dataset '", name_, "' starts at row ", start);
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> shared_part;
  std::shared_ptr<arrow::RecordBatch> rest;
  size_t last = first;
  for (int64_t row = start; row < end; ++last) {
    const auto& batch = view.batches[last];
    const int64_t take = std::min(batch->num_rows(), end - row);
    shared_part.push_back(take == batch->num_rows() ? batch : batch->Slice(0, take));
    if (take < batch->num_rows()) {
      ARROW_ASSIGN_OR_RAISE(rest, CompactCopy(*batch->Slice(take)));
    }
    row += batch->num_rows();
  }
  ARROW_ASSIGN_OR_RAISE(std::optional<SharedBatches> shared,
                        ShareVectors(shared_part, start - segment->first_row, vector_column_,
                                     segment->graph->rows()));
  WriterLock state(&state_mutex_);
  if (dropped_) return false;
  if (!shared) {
    vectors_shareable_ = false;
    spdlog::info("dataset '{}' keeps its vectors apart from its graph's (normalized) copy", name_);
    return false;
  }
  if (rest) shared->batches.push_back(std::move(rest));
  // Appends only add batches after these, and deletes do not touch batches: they are still
  // here.
  const std::span<const std::shared_ptr<arrow::RecordBatch>> replaced(view.batches.data() + first,
                                                                      last - first);
  const int64_t replaced_bytes = BatchBytes(replaced);
  const int64_t bytes = BatchBytes(shared->batches) - replaced_bytes;
  batches_.erase(batches_.begin() + static_cast<ptrdiff_t>(first),
                 batches_.begin() + static_cast<ptrdiff_t>(last));
  batches_.insert(batches_.begin() + static_cast<ptrdiff_t>(first), shared->batches.begin(),
                  shared->batches.end());
  num_bytes_ += bytes;
  budget_->Adjust(bytes);
  // The replaced batches' memory stays charged while the allocator keeps it for the next puts.
  budget_->HoldFreed(replaced_bytes);
  shared_rows_ = end;
  shared_allocated_bytes_ += shared->lent_allocated_bytes;
  state.Unlock();
  // The last references to the replaced batches (unless a reader still holds them): let go.
  shared_part.clear();
  const bool segment_done = end == segment->end_row() && sealed;
  view = DatasetSnapshot{};
  budget_->ReturnFreedSometimes();  // in full once indexing is idle (IndexWorkers)
  return segment_done;
}

int64_t Dataset::shared_vector_rows() const {
  ReaderLock state(&state_mutex_);
  return shared_rows_;
}

DatasetSnapshot Dataset::Snapshot() const {
  ReaderLock lock(&state_mutex_);
  return SnapshotLocked();
}

const RowKeys& DatasetSnapshot::row_keys() const {
  static const RowKeys identity;
  return keys ? *keys : identity;
}

void Dataset::RestoreKeys(RowKeys keys) {
  MutexLock order(&append_mutex_);
  next_key_ = keys.NextKey(logged_rows_);
  WriterLock state(&state_mutex_);
  keys_ = std::make_shared<const RowKeys>(std::move(keys));
}

arrow::Status Dataset::SkipKeys(uint64_t count) {
  MutexLock order(&append_mutex_);
  WriterLock state(&state_mutex_);
  Roaring lost;  // rows past the dataset's: their keys are the next ones
  lost.addRange(static_cast<uint64_t>(num_rows_), static_cast<uint64_t>(num_rows_) + count);
  std::optional<RowKeys> keys;
  if (next_key_ + count <= kMaxRowKeys) keys = keys_->Compacted(lost);
  if (!keys) return arrow::Status::Invalid("dataset '", name_, "': row keys past 2^32");
  keys_ = std::make_shared<const RowKeys>(std::move(*keys));
  next_key_ += count;
  return arrow::Status::OK();
}

std::shared_ptr<const RowKeys> Dataset::row_keys() const {
  ReaderLock state(&state_mutex_);
  return keys_;
}

DatasetSnapshot Dataset::SnapshotLocked() const {
  // The graph and its row count under the state lock: a compaction replaces them together
  // with the batches, under this lock exclusively; the index workers only ever add rows that
  // are published already.
  DatasetSnapshot view{
      schema_,   batches_,
      num_rows_, num_bytes_,
      0,         published_lsn_,
      {},        0,
      text_,     graph_->empty() ? nullptr : std::make_shared<const EdgeCut>(graph_->Cut()),
      keys_};
  std::vector<DatasetIndex::SegmentGraph> graphs = index_->Graphs();
  view.segments.reserve(graphs.size());
  for (size_t s = 0; s < graphs.size(); ++s) {
    // While a snapshot's rows are loaded, its later segments hold none of them yet.
    const int64_t end =
        s + 1 < segment_firsts_.size() ? std::min(segment_firsts_[s + 1], num_rows_) : num_rows_;
    const int64_t first = std::min(segment_firsts_[s], end);
    view.indexed_rows += graphs[s].indexed_rows;
    const std::shared_ptr<const TombstoneSet>& deleted = DeletedSetLocked(s);
    view.deleted_rows += static_cast<int64_t>(deleted->size());
    view.segments.push_back(
        {first, end - first, std::move(graphs[s].graph), graphs[s].indexed_rows, deleted});
  }
  return view;
}

const std::shared_ptr<const TombstoneSet>& Dataset::DeletedSetLocked(size_t s) const {
  static const std::shared_ptr<const TombstoneSet> empty = TombstoneSet::Empty();
  return s < segment_deleted_.size() ? segment_deleted_[s] : empty;
}

void Dataset::AddDeletedLocked(const Roaring& rows) {
  segment_deleted_.resize(segment_firsts_.size(), TombstoneSet::Empty());
  segment_deleted_ = WithDeletedRows(std::move(segment_deleted_), segment_firsts_, rows);
}

void Dataset::SealIfFullLocked() {
  const int64_t active_rows = num_rows_ - segment_firsts_.back();
  if (active_rows <= 0 || num_rows_ < restored_segment_rows_ ||
      active_rows * vector_row_bytes_ < segment_max_bytes_ ||
      active_rows < index_->active_indexed_rows()) {
    return;
  }
  if (const arrow::Status added = index_->AddSegment(); !added.ok()) {
    spdlog::warn("dataset '{}' keeps its active segment growing past {} rows: {}", name_,
                 active_rows, added.ToString());
    return;
  }
  segment_firsts_.push_back(num_rows_);
  segment_deleted_.resize(segment_firsts_.size(), TombstoneSet::Empty());
}

void Dataset::RestoreSegments(std::vector<int64_t> firsts, int64_t rows) {
  WriterLock state(&state_mutex_);
  segment_firsts_ = std::move(firsts);
  // Before the snapshot's rows are in: no segment has deleted rows yet.
  segment_deleted_.assign(segment_firsts_.size(), TombstoneSet::Empty());
  restored_segment_rows_ = rows;
}

std::shared_ptr<DatasetText> Dataset::text() const {
  ReaderLock lock(&state_mutex_);
  return text_;
}

uint64_t Dataset::last_lsn() const {
  ReaderLock lock(&state_mutex_);
  return published_lsn_;
}

void Dataset::PublishDeletes(const Roaring& rows, uint64_t turn, uint64_t lsn) {
  std::vector<std::shared_ptr<const TombstoneSet>> updated;
  std::vector<int64_t> firsts;
  uint64_t generation = 0;
  {
    ReaderLock lock(&state_mutex_);
    updated = segment_deleted_;
    firsts = segment_firsts_;
    generation = layout_generation_;
  }
  // Built outside the lock, only the sets of the segments holding the rows copied: deletes
  // are serialized by delete_mutex_ (as are upserts and compactions), so these stay the latest
  // sets unless a merge replaced segments meanwhile (the generation says; then built again
  // under the lock). Seals meanwhile only add empty sets after these. Readers only ever wait
  // for the swap.
  updated.resize(firsts.size(), TombstoneSet::Empty());
  updated = WithDeletedRows(std::move(updated), firsts, rows);
  std::shared_ptr<DatasetText> text;
  Resolve(
      turn,
      [&]() REQUIRES(state_mutex_) {
        if (layout_generation_ != generation || segment_firsts_.size() < updated.size()) {
          AddDeletedLocked(rows);
        } else {
          for (size_t s = updated.size(); s < segment_firsts_.size(); ++s) {
            updated.push_back(DeletedSetLocked(s));
          }
          segment_deleted_ = std::move(updated);
        }
        text = text_;
      },
      lsn);
  // Searches skip deleted rows already (SearchScope::Allows); leaving the text index also takes
  // them out of BM25's statistics.
  if (text) {
    for (const uint32_t row : rows) text->Remove(row);
  }
}

arrow::Status Dataset::DeleteRecovered(const Roaring& rows, uint64_t lsn) {
  MutexLock deletes(&delete_mutex_);
  const int64_t stored = Snapshot().num_rows;
  if (!rows.isEmpty() && rows.maximum() >= stored) {
    return arrow::Status::Invalid("WAL record ", lsn, " deletes row ", rows.maximum(),
                                  " of dataset '", name_, "', which has ", stored, " rows");
  }
  uint64_t turn;
  {
    MutexLock order(&append_mutex_);
    turn = TakeTurn();
    NoteLogged(lsn);
  }
  PublishDeletes(rows, turn, lsn);
  return arrow::Status::OK();
}

void Dataset::SkipTurn(uint64_t turn) { Resolve(turn, nullptr, 0); }

std::shared_ptr<arrow::Schema> Dataset::schema() const {
  ReaderLock lock(&state_mutex_);
  return schema_;
}

void Dataset::MarkDropped() {
  WriterLock lock(&state_mutex_);
  if (dropped_) return;
  dropped_ = true;
  // The bytes go back to the budget now, not when the last reader (a scan in flight, an index
  // worker) lets go of the dataset: a put right after a delete must find the memory free.
  budget_->Release(num_bytes_ + index_memory_.load(std::memory_order_relaxed));
  graph_->Clear();
}

int64_t Dataset::ChargeIndexMemory() {
  std::vector<SegmentView> segments;
  int64_t rows_without_copies = 0;  // sealed graphs' rows whose float16 copies were freed
  bool fell_back = false;           // a graph's int8 codes gave way to float16 copies
  for (DatasetIndex::SegmentGraph& graph : index_->Graphs()) {
    rows_without_copies += graph.graph->rows_without_build_copies();
    fell_back = fell_back || graph.graph->int8_fell_back();
    segments.push_back({0, 0, std::move(graph.graph), 0});
  }
  // The rows mapped from a snapshot have no copies either, and are not in the reservation.
  if (fell_back) int8_fell_back_.store(true, std::memory_order_release);
  const int64_t copies_freed = IndexModel().build_copy_bytes_per_row *
                               std::max<int64_t>(0, rows_without_copies - index_->restored_rows());
  const MemoryUsage graph = GraphMemory(segments);
  const std::shared_ptr<DatasetText> text = this->text();
  const int64_t graph_bytes = static_cast<int64_t>(graph.vector_bytes + graph.graph_bytes) +
                              IndexModel().fixed_bytes * static_cast<int64_t>(segments.size());
  // Search and insert state pooled by the graph, and the text postings: after the fact.
  const int64_t other_bytes = static_cast<int64_t>(graph.scratch_bytes) +
                              (text ? static_cast<int64_t>(text->Stats().total_bytes) : 0);
  WriterLock lock(&state_mutex_);
  if (dropped_) return 0;
  const int64_t graph_charged =
      std::max(graph_bytes, IndexReservation(charged_rows_) - copies_freed);
  // Shared vectors are charged with the batches.
  const int64_t bytes = kFixedBytes + id_map_bytes_ +
                        std::max<int64_t>(0, graph_charged + other_bytes - shared_allocated_bytes_);
  budget_->Adjust(bytes - index_memory_.exchange(bytes, std::memory_order_relaxed));
  return bytes;
}

bool Dataset::dropped() const {
  ReaderLock lock(&state_mutex_);
  return dropped_;
}

}  // namespace arbalest
