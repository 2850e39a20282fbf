// Writing a directory of files so that it appears whole or not at all: the files go into a
// staging directory (named with a .tmp suffix); Commit() fsyncs every file and the directory,
// renames it to its final name and fsyncs the parent. A crash before the rename leaves only the
// staging directory, which readers ignore and startup removes.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>
#include <string_view>

namespace arbalest {

inline constexpr std::string_view kStagingSuffix = ".tmp";

// Not thread-safe.
class StagingDir {
 public:
  // Creates the directory `path` (and its parent), replacing a leftover one. `path` should end
  // with kStagingSuffix. IOError names the directory.
  static arrow::Result<std::unique_ptr<StagingDir>> Create(std::string path);
  // Removes the staging directory and what was written to it, unless committed.
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  // The path of file `name` in the staging directory, for writing.
  std::string FilePath(std::string_view name) const;

  // fsyncs every file and the directory, renames it to `final_path` (a sibling that must not
  // exist) and fsyncs the parent. IOError names the path that failed; the staging directory is
  // then removed by the destructor.
  arrow::Status Commit(const std::string& final_path);

 private:
  explicit StagingDir(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  bool committed_ = false;
};

// Removes the directory tree at `path` (nothing when absent) and fsyncs its parent. IOError
// names the path.
arrow::Status RemoveDirectoryDurably(const std::string& path);

}  // namespace arbalest
