// VectorStore's namespaces: each creation or drop one WAL record, durable before it is
// answered; a drop takes its datasets with it (store/namespaces.h).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/dataset_name.h"
#include "store/vector_store.h"

namespace arbalest {

arrow::Status VectorStore::CreateNamespace(std::string_view name) {
  ARROW_RETURN_NOT_OK(ValidateNamespaceName(name));
  std::unique_lock exclusive(namespaces_.mutex());
  if (namespaces_.ExistsLocked(name)) {
    return arrow::Status::Invalid("namespace '", name, "' already exists");
  }
  const CommitLog log = Log();
  ARROW_ASSIGN_OR_RAISE(WalTicket ticket, log.Enqueue(EncodeCreateNamespace(name)));
  ARROW_RETURN_NOT_OK(log.Wait(ticket));
  ARROW_RETURN_NOT_OK(namespaces_.Created(name, ticket.lsn));
  spdlog::info("created namespace '{}'", name);
  return arrow::Status::OK();
}

arrow::Result<std::vector<std::string>> VectorStore::DropNamespace(std::string_view name) {
  ARROW_RETURN_NOT_OK(ValidateNamespaceName(name));
  if (name == kDefaultNamespace) {
    return arrow::Status::Invalid("the default namespace cannot be deleted (delete its datasets ",
                                  "with delete-dataset)");
  }
  std::unique_lock exclusive(namespaces_.mutex());  // no dataset of it is created meanwhile
  if (!namespaces_.ExistsLocked(name)) {
    return arrow::Status::KeyError("namespace '", name, "' not found");
  }
  std::vector<std::shared_ptr<Dataset>> members;
  for (auto& dataset : List()) {  // sorted by name: their mutexes are taken in that order
    if (NamespaceOf(dataset->name()) == name) members.push_back(std::move(dataset));
  }
  // Every change of these datasets is logged before the drop or not at all.
  ARROW_ASSIGN_OR_RAISE(
      const Dataset::DroppedTogether dropped,
      Dataset::DropTogether(
          members, [&](const auto& names) { return EncodeDropNamespace(name, names); }, Log()));
  {
    WriterLock lock(&mutex_);
    for (const auto& dataset : members) {
      if (auto it = datasets_.find(dataset->name());
          it != datasets_.end() && it->second == dataset) {
        datasets_.erase(it);
      }
    }
  }
  ARROW_RETURN_NOT_OK(namespaces_.Dropped(name, dropped.lsn));
  spdlog::info("dropped namespace '{}' with {} datasets", name, dropped.names.size());
  return dropped.names;
}

arrow::Result<int64_t> VectorStore::NamespaceDatasetCount(std::string_view name) {
  ARROW_RETURN_NOT_OK(ValidateNamespaceName(name));
  {
    std::shared_lock shared(namespaces_.mutex());
    if (!namespaces_.ExistsLocked(name)) {
      return arrow::Status::KeyError("namespace '", name, "' not found");
    }
  }
  const auto datasets = List();
  return std::count_if(datasets.begin(), datasets.end(),
                       [&](const auto& dataset) { return NamespaceOf(dataset->name()) == name; });
}

arrow::Status VectorStore::ApplyNamespaceLogged(const WalEntry& entry) {
  if (entry.type == WalRecordType::kCreateNamespace) {
    return namespaces_.Created(entry.dataset, entry.lsn);
  }
  return namespaces_.Dropped(entry.dataset, entry.lsn);
}

}  // namespace arbalest
