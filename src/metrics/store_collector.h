// The store's state as Prometheus metrics, read when /metrics is scraped so that the write
// path pays nothing for them: datasets, rows, bytes, memory used and limit, ingest totals,
// index progress (indexed rows, lag, queue depth, index memory), WAL bytes; and per dataset
// (label `dataset`) its live rows, deleted rows, stored bytes, index memory and index lag, for
// at most `max_labelled_datasets` datasets (the largest by rows, then by name) so that the
// label count stays bounded: the others are summed under dataset="_other".
#pragma once

#include <prometheus/collectable.h>

#include <memory>
#include <vector>

#include "store/vector_store.h"

namespace arbalest {

class StoreCollector : public prometheus::Collectable {
 public:
  StoreCollector(std::shared_ptr<VectorStore> store, int max_labelled_datasets)
      : store_(std::move(store)), max_labelled_datasets_(max_labelled_datasets) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<VectorStore> store_;
  const int max_labelled_datasets_;
};

}  // namespace arbalest
