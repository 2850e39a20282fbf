#include "index/hnsw_merge.h"

#include <cstring>

#include "index/hnsw_index.h"
#include "index/parallel_tasks.h"

namespace arbalest {

arrow::Result<std::unique_ptr<HnswIndex>> HnswMerge::Merge(const HnswIndex& first,
                                                           const HnswIndex& second, int threads) {
  const DistanceSpace& space = first.store_.space();
  if (second.dim() != first.dim() || second.metric() != first.metric() ||
      second.element_type() != first.element_type() || second.params_.m != first.params_.m ||
      second.params_.quantization != first.params_.quantization) {
    return arrow::Status::Invalid(
        "HNSW indexes of different dimensions, metrics, element types "
        "or parameters cannot be merged");
  }
  const bool first_larger = first.size() >= second.size();
  const HnswIndex& larger = first_larger ? first : second;
  const HnswIndex& smaller = first_larger ? second : first;
  const RowId first_rows = first.store_.count();
  const RowId total = first_rows + second.store_.count();
  const RowId larger_at = first_larger ? 0 : first_rows;   // the larger index's row 0, merged
  const RowId smaller_at = first_larger ? first_rows : 0;  // the smaller index's row 0, merged
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<HnswIndex> out,
                        HnswIndex::Make(space.dim(), space.metric(), space.type(), larger.params_));
  if (total == 0) return out;
  IndexRows& rows = out->store_;
  if (!rows.rows().Reserve(total) || !rows.flags().Reserve(total) || !out->links0_.Reserve(total) ||
      !out->nodes_.Reserve(total) || (out->quantizer_ && !out->codes_.Reserve(total))) {
    return arrow::Status::CapacityError("no memory to merge HNSW indexes into one of ", total,
                                        " rows");
  }
  const bool codes_ready = larger.codes_ready_.load(std::memory_order_acquire);
  if (codes_ready) ARROW_RETURN_NOT_OK(out->quantizer_->Restore(larger.quantizer_->State()));

  // Vectors and flags as stored (no re-encoding), both indexes' rows in merged order.
  auto copy_rows = [&](const HnswIndex& from, RowId at) {
    const IndexRows& source = from.store_;
    for (RowId row = 0; row < source.count(); ++row) {
      std::memcpy(rows.rows().At(at + row), source.Row(row), source.rows().record_bytes());
      *rows.flags().At(at + row) = *source.flags().At(row);
    }
  };
  copy_rows(first, 0);
  copy_rows(second, first_rows);

  // The larger graph: levels, lists (ids shifted) and codes kept.
  for (RowId row = 0; row < larger.store_.count(); ++row) {
    const RowId to = larger_at + row;
    const int level = larger.Node(row)->level;
    out->SetLevel(to, level);
    for (int l = 0; l <= level; ++l) {
      const uint32_t* list = larger.Links(row, l);
      uint32_t* target = out->Links(to, l);
      for (uint32_t j = 1; j <= list[0]; ++j) target[j] = list[j] + larger_at;
      target[0] = list[0];
    }
    if (codes_ready) {
      std::memcpy(out->codes_.At(to), larger.codes_.At(row), larger.codes_.record_bytes());
    }
  }
  // The smaller one's rows: levels drawn as for any new row, lists empty until linked below.
  for (RowId row = 0; row < smaller.store_.count(); ++row) {
    const RowId to = smaller_at + row;
    out->SetLevel(to, out->RandomLevel(to));
    if (codes_ready) {
      out->quantizer_->Encode(static_cast<const float*>(rows.Row(to)), out->codes_.At(to));
    }
  }
  rows.SetLoadedCount(total);
  ARROW_RETURN_NOT_OK(out->WriteAllBuildCopies(total, &larger));
  if (codes_ready) out->codes_ready_.store(true, std::memory_order_release);
  if (const HnswIndex::Entry top = larger.LoadEntry(); top.level >= 0) {
    out->entry_.store(uint64_t{static_cast<uint32_t>(top.level)} << 32 | (top.row + larger_at),
                      std::memory_order_release);
  }

  const RowId inserted = smaller.store_.count();
  if (inserted > 0) {
    if (first_larger) {
      out->LinkBatch(smaller_at, total, threads);  // every row before them is linked
    } else {
      ForEachTask(inserted, threads, HnswIndex::kRowsPerLinkThread,
                  [&](size_t i) { out->Link(static_cast<RowId>(i)); });
    }
  }
  if (!codes_ready && out->quantizer_) ARROW_RETURN_NOT_OK(out->MaybeTrainQuantizer());
  return out;
}

}  // namespace arbalest
