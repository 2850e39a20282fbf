// The data directory: created on start and locked so that two servers never share it.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>

namespace arbalest {

// Holds an exclusive lock (flock) on <dir>/LOCK until destroyed.
class DataDirLock {
 public:
  // Creates `dir` if needed and locks it. IOError when it cannot be created, or names the dir
  // when another process holds it.
  static arrow::Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace arbalest
