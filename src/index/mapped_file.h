// A read-only file mapped privately (copy-on-write) into memory: how a snapshot's graph file
// and vectors file are loaded without reading them into allocated memory. Writes to the
// mapping (links of loaded rows change when new rows are linked in) never reach the file.
#pragma once

#include <arrow/result.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace arbalest {

class MappedFile {
 public:
  // Maps the first `bytes` bytes of `path` (the whole file when `bytes` is -1). IOError when
  // the file cannot be opened or mapped; Invalid, naming the file, when it is empty or shorter
  // than `bytes`.
  static arrow::Result<std::shared_ptr<MappedFile>> Open(const std::string& path,
                                                         int64_t bytes = -1);
  MappedFile(uint8_t* data, size_t size) : data_(data), size_(size) {}
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

}  // namespace arbalest
