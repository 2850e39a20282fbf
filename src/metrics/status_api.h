// The JSON document behind the status page (GET /api/status on the metrics port): the store's
// datasets (rows, dimension, metric, element type, memory, index progress, deleted rows, last
// snapshot) and the counters and histograms the page turns into rates and quantiles by taking
// the difference of two polls. Read from the store's C++ API at request time, like
// StoreCollector: the write path pays nothing for it.
#pragma once

#include <memory>
#include <string>

#include "common/json_util.h"
#include "metrics/server_metrics.h"
#include "store/vector_store.h"

namespace arbalest {

struct StatusInfo {
  std::string version;  // ARBALEST_VERSION
};

class StatusApi {
 public:
  // `metrics` may be null (no latency histograms in the document then).
  StatusApi(std::shared_ptr<VectorStore> store, std::shared_ptr<const ServerMetrics> metrics,
            StatusInfo info)
      : store_(std::move(store)), metrics_(std::move(metrics)), info_(std::move(info)) {}

  // The document now; `now_seconds` is the Unix time it is stamped with. Its fields are listed
  // in docs/operations.md ("Status page").
  Json Document(double now_seconds) const;

  // Document(current time), serialized.
  std::string Serve() const;

 private:
  std::shared_ptr<VectorStore> store_;
  std::shared_ptr<const ServerMetrics> metrics_;
  StatusInfo info_;
};

}  // namespace arbalest
