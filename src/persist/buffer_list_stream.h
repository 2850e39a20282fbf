// An Arrow OutputStream that keeps the buffers written to it instead of copying them, so that an
// Arrow IPC stream of a record batch can be written to the WAL with writev straight from the
// batch's own buffers (the batch's column data is never copied before the kernel's write).
#pragma once

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace arbalest {

// Not thread-safe.
class BufferListOutputStream : public arrow::io::OutputStream {
 public:
  // Small writes (IPC framing and metadata) are copied into owned buffers; whole buffers are
  // kept by reference.
  arrow::Status Write(const void* data, int64_t nbytes) override;
  arrow::Status Write(const std::shared_ptr<arrow::Buffer>& data) override;
  arrow::Status Close() override;
  arrow::Result<int64_t> Tell() const override { return position_; }
  bool closed() const override { return closed_; }

  // The buffers written, in order; their concatenation is the stream's content.
  std::vector<std::shared_ptr<arrow::Buffer>> Finish();

 private:
  void FlushScratch();

  std::vector<std::shared_ptr<arrow::Buffer>> parts_;
  std::string scratch_;
  int64_t position_ = 0;
  bool closed_ = false;
};

}  // namespace arbalest
