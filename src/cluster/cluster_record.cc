#include "cluster/cluster_record.h"

#include <filesystem>
#include <fstream>

#include "persist/file_sync.h"

namespace arbalest {
namespace {

std::filesystem::path RecordPath(const std::string& data_dir) {
  return std::filesystem::path(data_dir) / "CLUSTER";
}

}  // namespace

arrow::Status CheckClusterRecord(const std::string& data_dir, const std::string& cluster) {
  std::ifstream file(RecordPath(data_dir));
  if (!file) return arrow::Status::OK();
  std::string recorded;
  std::getline(file, recorded);
  if (recorded.empty() || recorded == cluster) return arrow::Status::OK();
  return arrow::Status::Invalid("the data dir ", data_dir, " belongs to cluster '", recorded,
                                "', not to cluster '", cluster,
                                "' (--cluster-name); use that cluster's name or another data dir");
}

arrow::Status WriteClusterRecord(const std::string& data_dir, const std::string& cluster) {
  const auto path = RecordPath(data_dir);
  if (std::filesystem::exists(path)) return CheckClusterRecord(data_dir, cluster);
  const auto staged = std::filesystem::path(path).concat(".tmp");
  {
    std::ofstream file(staged, std::ios::trunc);
    file << cluster << "\n";
    if (!file.flush()) return arrow::Status::IOError("cannot write ", staged.string());
  }
  ARROW_RETURN_NOT_OK(SyncFile(staged.string()));
  std::error_code error;
  std::filesystem::rename(staged, path, error);
  if (error) {
    return arrow::Status::IOError("cannot rename ", staged.string(), ": ", error.message());
  }
  return SyncDirectory(data_dir);
}

}  // namespace arbalest
