#include "store/namespaces.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/dataset_name.h"
#include "common/json_util.h"
#include "persist/file_sync.h"

namespace arbalest {

arrow::Status Namespaces::Open(std::string file) {
  file_ = std::move(file);
  std::error_code error;
  if (file_.empty() || !std::filesystem::exists(file_, error)) return arrow::Status::OK();
  std::ifstream in(file_);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return arrow::Status::IOError("cannot read ", file_);
  const std::string what = "namespace file " + file_;
  ARROW_ASSIGN_OR_RAISE(Json content, ParseJsonObject(text.str(), what));
  if (!content.contains("lsn") || !content["lsn"].is_number_unsigned() ||
      !content.contains("namespaces") || !content["namespaces"].is_array()) {
    return arrow::Status::Invalid(what, " lacks \"lsn\" or \"namespaces\"");
  }
  file_lsn_ = content["lsn"].get<uint64_t>();
  std::lock_guard lock(names_mutex_);
  for (const Json& name : content["namespaces"]) {
    if (!name.is_string()) return arrow::Status::Invalid(what, " lists a namespace not a string");
    ARROW_RETURN_NOT_OK(ValidateNamespaceName(name.get<std::string>()));
    names_.insert(name.get<std::string>());
  }
  return arrow::Status::OK();
}

bool Namespaces::ExistsLocked(std::string_view name) const {
  if (name == kDefaultNamespace) return true;
  std::lock_guard lock(names_mutex_);
  return names_.contains(name);
}

arrow::Status Namespaces::CheckDatasetNamespaceLocked(std::string_view dataset) const {
  const std::string_view space = NamespaceOf(dataset);
  if (ExistsLocked(space)) return arrow::Status::OK();
  return arrow::Status::KeyError("namespace '", space, "' of dataset '", dataset,
                                 "' not found (create it with the CreateNamespace action)");
}

std::vector<std::string> Namespaces::List() const {
  std::vector<std::string> names{std::string(kDefaultNamespace)};
  std::lock_guard lock(names_mutex_);
  names.insert(names.end(), names_.begin(), names_.end());
  return names;
}

arrow::Status Namespaces::Created(std::string_view name, uint64_t lsn) {
  if (lsn != 0 && lsn <= file_lsn_) return arrow::Status::OK();
  {
    std::lock_guard lock(names_mutex_);
    names_.emplace(name);
  }
  return Save(lsn);
}

arrow::Status Namespaces::Dropped(std::string_view name, uint64_t lsn) {
  if (lsn != 0 && lsn <= file_lsn_) return arrow::Status::OK();
  {
    std::lock_guard lock(names_mutex_);
    if (auto it = names_.find(name); it != names_.end()) names_.erase(it);
  }
  return Save(lsn);
}

arrow::Status Namespaces::Save(uint64_t lsn) const {
  if (file_.empty()) return arrow::Status::OK();
  Json content{{"lsn", lsn}, {"namespaces", Json::array()}};
  {
    std::lock_guard lock(names_mutex_);
    for (const auto& name : names_) content["namespaces"].push_back(name);
  }
  const std::filesystem::path path(file_);
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  const std::string temporary = file_ + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content.dump() << "\n";
    if (!out.flush()) return arrow::Status::IOError("cannot write ", temporary);
  }
  ARROW_RETURN_NOT_OK(SyncFile(temporary));
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return arrow::Status::IOError("cannot rename ", temporary, " to ", file_, ": ",
                                  error.message());
  }
  return SyncDirectory(path.parent_path().string());
}

}  // namespace arbalest
