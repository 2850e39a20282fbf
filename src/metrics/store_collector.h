// The store's state as Prometheus metrics, read when /metrics is scraped so that the write
// path pays nothing for them: datasets, rows, bytes, memory used and limit, ingest totals,
// index progress (indexed rows, lag, queue depth, index memory), WAL bytes.
#pragma once

#include <prometheus/collectable.h>

#include <memory>
#include <vector>

#include "store/vector_store.h"

namespace arbalest {

class StoreCollector : public prometheus::Collectable {
 public:
  explicit StoreCollector(std::shared_ptr<VectorStore> store) : store_(std::move(store)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<VectorStore> store_;
};

}  // namespace arbalest
