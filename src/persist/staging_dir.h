// Writing a directory of files so that it appears whole or not at all: the files go into a
// staging directory (named with a .tmp suffix); Commit() fsyncs every file and the directory,
// renames it to its final name and fsyncs the parent. A crash before the rename leaves only the
// staging directory, which readers ignore and startup removes.
//
// Removal is the mirror image: RemoveDirectoryDurably() first renames the directory to a name
// with the kTrashSuffix (atomic: the directory is whole under its old name, or gone from it),
// then deletes the files. A crash in between leaves only the trash directory, which readers
// ignore and startup removes, never a directory that lost some of its files under a name
// readers trust.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>
#include <string_view>

namespace arbalest {

inline constexpr std::string_view kStagingSuffix = ".tmp";
inline constexpr std::string_view kTrashSuffix = ".trash";

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

// Removes the directory tree at `path` (nothing when absent): renames it to `path` +
// kTrashSuffix (replacing a leftover of that name), fsyncs the parent, deletes the tree and
// fsyncs the parent again. Once it has returned, or once a crash interrupted it after the
// rename, `path` no longer exists. IOError names the path.
arrow::Status RemoveDirectoryDurably(const std::string& path);

}  // namespace arbalest
