#include "persist/staging_dir.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "persist/file_sync.h"

namespace arbalest {

namespace fs = std::filesystem;

namespace {

std::string ParentOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

arrow::Result<std::unique_ptr<StagingDir>> StagingDir::Create(std::string path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (!error) fs::create_directories(path, error);
  if (error) return arrow::Status::IOError("cannot create ", path, ": ", error.message());
  return std::unique_ptr<StagingDir>(new StagingDir(std::move(path)));
}

StagingDir::~StagingDir() {
  if (committed_) return;
  std::error_code error;
  fs::remove_all(path_, error);
  if (error) spdlog::warn("cannot remove {}: {}", path_, error.message());
}

std::string StagingDir::FilePath(std::string_view name) const {
  return (fs::path(path_) / name).string();
}

arrow::Status StagingDir::Commit(const std::string& final_path) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(path_, error)) {
    if (entry.is_regular_file()) ARROW_RETURN_NOT_OK(SyncFile(entry.path().string()));
  }
  if (error) return arrow::Status::IOError("cannot list ", path_, ": ", error.message());
  ARROW_RETURN_NOT_OK(SyncDirectory(path_));
  if (fs::exists(final_path, error)) {
    return arrow::Status::IOError("cannot rename ", path_, ": ", final_path, " exists");
  }
  fs::rename(path_, final_path, error);
  if (error) {
    return arrow::Status::IOError("cannot rename ", path_, " to ", final_path, ": ",
                                  error.message());
  }
  committed_ = true;
  return SyncDirectory(ParentOf(final_path));
}

arrow::Status RemoveDirectoryDurably(const std::string& path) {
  std::error_code error;
  const bool exists = fs::exists(path, error);
  if (error) return arrow::Status::IOError("cannot remove ", path, ": ", error.message());
  if (!exists) return arrow::Status::OK();
  const std::string trash = path + std::string(kTrashSuffix);
  if (!path.ends_with(kTrashSuffix)) {
    fs::remove_all(trash, error);
    if (!error) fs::rename(path, trash, error);
    if (error) {
      return arrow::Status::IOError("cannot remove ", path, " (renaming it to ", trash,
                                    "): ", error.message());
    }
    ARROW_RETURN_NOT_OK(SyncDirectory(ParentOf(path)));
  }
  const std::string& doomed = path.ends_with(kTrashSuffix) ? path : trash;
  fs::remove_all(doomed, error);
  if (error) return arrow::Status::IOError("cannot remove ", doomed, ": ", error.message());
  return SyncDirectory(ParentOf(path));
}

}  // namespace arbalest
