// The namespaces datasets are grouped in (common/dataset_name.h: "namespace/name"; plain names
// belong to the default namespace, which always exists and cannot be dropped).
//
// Durability: creating or dropping a namespace is a WAL record (kCreateNamespace,
// kDropNamespace), acknowledged once durable. A checkpoint deletes old WAL segments, which may
// hold those records, so the set is also kept in <snapshot dir>/NAMESPACES.json, rewritten
// atomically (temporary file, fsync, rename, directory fsync) after each such record is durable
// and before the client is answered: {"lsn": L, "namespaces": [...]}, the set after every
// namespace record up to LSN L. Recovery loads the file, then applies the records after L.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace arbalest {

inline constexpr char kNamespacesFile[] = "NAMESPACES.json";  // in the snapshot directory

// Thread-safe.
class Namespaces {
 public:
  // Where the set is kept between restarts (empty: only in the WAL, for servers without
  // snapshots). Loads it when the file exists. Call before replay.
  arrow::Status Open(std::string file);

  // Held shared while a dataset is created (so that no drop of its namespace runs meanwhile),
  // exclusively while a namespace is created or dropped.
  std::shared_mutex& mutex() { return mutex_; }

  // Whether `name` exists (the default namespace always does). The caller holds mutex().
  bool ExistsLocked(std::string_view name) const;
  // KeyError naming the namespace of `dataset` when it does not exist. The caller holds
  // mutex().
  arrow::Status CheckDatasetNamespaceLocked(std::string_view dataset) const;

  // Every namespace, the default one first, then by name.
  std::vector<std::string> List() const;

  // Adds or removes `name` after its WAL record `lsn` (live: the caller holds mutex()
  // exclusively; replay: records at or below the file's LSN are already in the set) and
  // rewrites the file when there is one.
  arrow::Status Created(std::string_view name, uint64_t lsn);
  arrow::Status Dropped(std::string_view name, uint64_t lsn);

 private:
  arrow::Status Save(uint64_t lsn) const;

  mutable std::shared_mutex mutex_;
  mutable std::mutex names_mutex_;  // guards names_ for List() beside the holders of mutex_
  std::set<std::string, std::less<>> names_;  // without the default namespace
  std::string file_;
  uint64_t file_lsn_ = 0;  // the records the loaded file reflects
};

}  // namespace arbalest
