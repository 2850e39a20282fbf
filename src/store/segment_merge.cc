// Dataset::MergeSegments and PublishMerge (declared in dataset.h): store/segment_merge.h.
#include "store/segment_merge.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "index/hnsw_merge.h"
#include "store/dataset.h"
#include "store/memory_budget.h"
#include "store/merge_policy.h"

namespace arbalest {

arrow::Result<SegmentMergeReport> Dataset::MergeSegments(int threads,
                                                         const std::function<bool()>& cancelled) {
  SegmentMergeReport report;
  const auto start = std::chrono::steady_clock::now();
  while (!cancelled() && !dropped()) {
    const DatasetSnapshot view = Snapshot();
    std::vector<MergeCandidate> candidates;
    for (size_t s = 0; s < view.segments.size(); ++s) {
      const SegmentView& segment = view.segments[s];
      const auto deleted = static_cast<int64_t>(segment.deleted->size());
      const bool sealed = s + 1 < view.segments.size();
      candidates.push_back({(segment.rows - deleted) * vector_row_bytes_,
                            sealed && segment.indexed_rows == segment.rows &&
                                static_cast<int64_t>(segment.graph->size()) == segment.rows});
    }
    const std::optional<size_t> pick = PickMerge(candidates, segment_max_bytes_);
    if (!pick) break;
    const SegmentView& left = view.segments[*pick];
    const SegmentView& right = view.segments[*pick + 1];
    // The merged graph is built beside the two it replaces: charged before it is allocated
    // (what a graph of both segments' rows allocates, its build copies included) and released
    // once it is swapped in and charged as the dataset's index. A merge that does not fit
    // under --max-memory waits for a later turn: merging never takes the process past it.
    auto reservation =
        MemoryReservation::Make(budget_, IndexModel().BytesFor(left.rows + right.rows),
                                ChargeMode::kRefusable, "a segment merge");
    if (!reservation.ok()) {
      report.deferred += 1;
      spdlog::debug("dataset '{}' merges later: {}", name_, reservation.status().message());
      break;
    }
    ARROW_ASSIGN_OR_RAISE(std::unique_ptr<HnswIndex> merged,
                          HnswMerge::Merge(*left.graph, *right.graph, threads));
    merged->DropBuildCopies();  // sealed, all linked
    if (cancelled()) break;
    if (!PublishMerge(left, right, std::move(merged))) continue;  // look again
    report.merges += 1;
    report.inserted_rows += std::min(left.rows, right.rows);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

bool Dataset::PublishMerge(const SegmentView& left, const SegmentView& right,
                           std::shared_ptr<HnswIndex> merged) {
  bool share_again = false;
  {
    // No snapshot or compaction is between its view and its publication meanwhile.
    MutexLock maintenance(&maintenance_mutex_);
    const auto paused = index_->PauseIndexing();
    WriterLock state(&state_mutex_);
    if (dropped_) return false;
    const DatasetSnapshot before = SnapshotLocked();
    const std::optional<size_t> s =
        index_->ReplacePair(left.graph.get(), right.graph.get(), std::move(merged));
    if (!s) return false;
    const int64_t first = segment_firsts_[*s];
    segment_firsts_.erase(segment_firsts_.begin() + static_cast<ptrdiff_t>(*s) + 1);
    // The merged segment's deleted rows: the left one's, then the right one's after the left
    // one's rows (the merged graph numbers them so). Both read now: deletes publish under this
    // lock, so none is lost; the other segments keep their sets.
    const SegmentView& left_now = before.segments[*s];
    const SegmentView& right_now = before.segments[*s + 1];
    Roaring merged_deleted = left_now.deleted->rows();
    merged_deleted |= ShiftedRows(right_now.deleted->rows(), left_now.rows);
    segment_deleted_.resize(segment_firsts_.size() + 1, TombstoneSet::Empty());
    segment_deleted_[*s] = std::make_shared<const TombstoneSet>(std::move(merged_deleted));
    segment_deleted_.erase(segment_deleted_.begin() + static_cast<ptrdiff_t>(*s) + 1);
    layout_generation_ += 1;
    // The batches of the merged rows (and of the segments after them) are views of the old
    // graphs' vectors: shared again from the merged segment on, so that the old graphs go.
    if (shared_rows_ > first) {
      shared_allocated_bytes_ -= LentBytes(before.segments, first, shared_rows_);
      shared_rows_ = first;
      share_again = true;
    }
  }
  if (share_again) {
    if (arrow::Status shared = ShareIndexedVectors(); !shared.ok()) {
      spdlog::warn("dataset '{}' keeps a second copy of its merged vectors: {}", name_,
                   shared.ToString());
    }
  }
  ChargeIndexMemory();  // one graph and its fixed cost for two
  return true;
}

}  // namespace arbalest
