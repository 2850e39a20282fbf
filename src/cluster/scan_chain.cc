#include "cluster/scan_chain.h"

namespace arbalest {

arrow::Status ChainedScanReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) {
  *batch = nullptr;
  while (next_part_ < parts_.size() && (!remaining_ || *remaining_ > 0)) {
    std::shared_ptr<arrow::RecordBatch> next;
    ARROW_RETURN_NOT_OK(parts_[next_part_].reader->ReadNext(&next));
    if (!next) {
      parts_[next_part_] = {};  // done: a peer's stream and client are let go
      ++next_part_;
      continue;
    }
    if (next->num_rows() == 0) continue;
    if (remaining_) {
      next = next->Slice(0, std::min(next->num_rows(), *remaining_));
      *remaining_ -= next->num_rows();
    }
    *batch = arrow::RecordBatch::Make(schema_, next->num_rows(), next->columns());
    return arrow::Status::OK();
  }
  parts_.clear();
  return arrow::Status::OK();
}

}  // namespace arbalest
