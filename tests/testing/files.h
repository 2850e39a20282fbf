// Files in tests: reading one whole, and a real write failure without mocks (a file-size limit).
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

namespace arbalest::testing {

// The bytes of the file at `path` (empty when it cannot be read).
inline std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Makes the process's writes past `bytes` into any file fail with EFBIG (RLIMIT_FSIZE) while
// it lives: a log that cannot grow, as on a full disk (a failure the log survives).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(int64_t bytes) {
    previous_signal_ = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &previous_);
    rlimit limited = previous_;
    limited.rlim_cur = static_cast<rlim_t>(bytes);
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  }
  ~FileSizeLimit() { Lift(); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

  // Restores the limit (and SIGXFSZ's handler) before the scope ends; idempotent.
  void Lift() {
    if (lifted_) return;
    lifted_ = true;
    ::setrlimit(RLIMIT_FSIZE, &previous_);
    std::signal(SIGXFSZ, previous_signal_);
  }

 private:
  rlimit previous_{};
  void (*previous_signal_)(int) = SIG_DFL;
  bool lifted_ = false;
};

}  // namespace arbalest::testing
