#include "persist/buffer_list_stream.h"

namespace arbalest {

arrow::Status BufferListOutputStream::Write(const void* data, int64_t nbytes) {
  scratch_.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
  position_ += nbytes;
  return arrow::Status::OK();
}

arrow::Status BufferListOutputStream::Write(const std::shared_ptr<arrow::Buffer>& data) {
  if (data->size() < 4096) return Write(data->data(), data->size());  // not worth an iovec
  FlushScratch();
  parts_.push_back(data);
  position_ += data->size();
  return arrow::Status::OK();
}

arrow::Status BufferListOutputStream::Close() {
  closed_ = true;
  return arrow::Status::OK();
}

void BufferListOutputStream::FlushScratch() {
  if (scratch_.empty()) return;
  parts_.push_back(arrow::Buffer::FromString(std::move(scratch_)));
  scratch_.clear();
}

std::vector<std::shared_ptr<arrow::Buffer>> BufferListOutputStream::Finish() {
  FlushScratch();
  return std::move(parts_);
}

}  // namespace arbalest
