// The vector index of one dataset: an HNSW graph over the dataset's rows, fed in row order by
// the index workers (index row i is dataset row i), plus what search needs to know about the
// dataset's vectors (metric, element type).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "index/hnsw_index.h"
#include "index/metric.h"
#include "simd/element_type.h"
#include "store/dataset_layout.h"

namespace arbalest {

struct DatasetSnapshot;

// Schema metadata keys that configure a dataset's index (all optional):
//   longbow.metric                euclidean (default), cosine, dot_product
//   longbow.index.m               HNSW M (default 16)
//   longbow.index.ef_construction (default 200)
//   longbow.index.quantization    none (default) or sq8
struct IndexConfig {
  Metric metric = Metric::kL2;
  simd::ElementType element_type = simd::ElementType::kFloat32;
  HnswParams params;
};

// Reads the configuration from a dataset's schema metadata. Invalid names a bad key or value.
arrow::Result<IndexConfig> IndexConfigFor(const arrow::Schema& schema, const DatasetLayout& layout);

// The vectors of `batch`'s rows [begin, end) as float32, row-major, appended to `out`.
void AppendVectorsAsFloat(const arrow::RecordBatch& batch, int vector_column, int64_t begin,
                          int64_t end, std::vector<float>* out);

// Thread-safe: CatchUp serializes itself; searches may run concurrently with it.
class DatasetIndex {
 public:
  static arrow::Result<std::unique_ptr<DatasetIndex>> Make(const IndexConfig& config, int dim);

  const IndexConfig& config() const { return config_; }
  const HnswIndex& hnsw() const { return *hnsw_; }

  // Adds the rows of `snapshot` that are not indexed yet, in row order, `max_rows` at most
  // (so that one dataset does not hold a worker forever), linking them into the graph from
  // `threads` threads, stopping early once `cancelled` returns true. Returns the number added.
  arrow::Result<int64_t> CatchUp(const DatasetSnapshot& snapshot, int vector_column,
                                 int64_t max_rows, int threads,
                                 const std::function<bool()>& cancelled);

  // Rows 0 .. indexed_rows()-1 are searchable through the graph.
  int64_t indexed_rows() const { return indexed_rows_.load(std::memory_order_acquire); }

 private:
  DatasetIndex(IndexConfig config, std::unique_ptr<HnswIndex> hnsw)
      : config_(std::move(config)), hnsw_(std::move(hnsw)) {}

  const IndexConfig config_;
  std::unique_ptr<HnswIndex> hnsw_;
  std::mutex catch_up_mutex_;
  std::atomic<int64_t> indexed_rows_{0};
};

}  // namespace arbalest
