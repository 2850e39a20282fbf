// What the libFuzzer targets of this folder share: quiet logging, a scratch directory for the
// files a target writes per input, and the fuzzer's bytes as text or as a file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace arbalest::fuzz {

// Turns spdlog off: the code under test logs every rejected input, which would drown the
// fuzzer's own output and slow it down.
void QuietLogs();

// The fuzzer's input as text (JSON documents, tickets).
inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of this process (in /dev/shm when there is one: inputs are written thousands of
// times a second), emptied by Clear() before each input and removed at exit.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view target);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Removes everything in the directory.
  void Clear() const;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes `size` bytes to `path` (replacing it); aborts when it cannot, which is the machine's
// fault, not the input's.
void WriteFile(const std::string& path, const void* data, size_t size);

}  // namespace arbalest::fuzz
