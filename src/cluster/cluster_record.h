// Which cluster a data directory belongs to: <data-dir>/CLUSTER holds the cluster name, written
// when the node first joins. A node started with another --cluster-name on that directory is
// refused, so that one cluster's data is never served as part of another.
#pragma once

#include <arrow/status.h>

#include <string>

namespace arbalest {

// OK when `data_dir` has no record or records `cluster`; Invalid naming both names otherwise.
arrow::Status CheckClusterRecord(const std::string& data_dir, const std::string& cluster);

// Records `cluster` (durably: written, synced, renamed into place) unless already recorded.
arrow::Status WriteClusterRecord(const std::string& data_dir, const std::string& cluster);

}  // namespace arbalest
