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
#include <string>
#include <vector>

#include "index/hnsw_index.h"
#include "index/metric.h"
#include "simd/element_type.h"
#include "store/dataset_layout.h"

namespace arbalest {

struct DatasetSnapshot;

// Schema metadata keys that configure a dataset's index (all optional; a new dataset also
// accepts them as arbalest.<name> or a bare <name>, schema_options.h, and records them as
// longbow.<name>, the only spelling read here):
//   longbow.metric                euclidean (default), cosine, dot_product
//   longbow.index.m               HNSW M (default 16)
//   longbow.index.ef_construction (default 200)
//   longbow.index.quantization    none (default), sq8 or pq: graph traversal on 1-byte-per-
//                                 dimension SQ8 or PQ codes, re-ranked on the full vectors
//                                 (float32 vectors only)
//   longbow.index.pq_m            PQ subspaces = code bytes per row; must divide the dimension
//                                 (default: sub-vectors of 4 floats, dim / 4)
//   longbow.index.training_rows   rows indexed before SQ8/PQ codes are learnt (default 4096
//                                 for SQ8, 10240 for PQ; PQ needs at least 256)
//   longbow.index.build_precision float16 (default) or float32: what inserts compare for
//                                 float32 vectors: float16 copies of the rows (a faster build,
//                                 2 more bytes per dimension per row) or the rows themselves
struct IndexConfig {
  Metric metric = Metric::kL2;
  simd::ElementType element_type = simd::ElementType::kFloat32;
  HnswParams params;
};

// The element type an index stores vectors of Arrow type `value_type` in (float32, float16, int8,
// uint8: the same). Invalid for another type.
arrow::Result<simd::ElementType> ElementTypeOf(const arrow::DataType& value_type);

// Reads the configuration from a dataset's schema metadata. Invalid names a bad key or value.
arrow::Result<IndexConfig> IndexConfigFor(const arrow::Schema& schema, const DatasetLayout& layout);

// The vectors of `batch`'s rows [begin, end) as float32, row-major, appended to `out`.
void AppendVectorsAsFloat(const arrow::RecordBatch& batch, int vector_column, int64_t begin,
                          int64_t end, std::vector<float>* out);

// Thread-safe: CatchUp serializes itself; searches may run concurrently with it. A compaction
// replaces the graph as a whole (Replace): readers hold the graph they started with.
class DatasetIndex {
 public:
  static arrow::Result<std::unique_ptr<DatasetIndex>> Make(const IndexConfig& config, int dim);

  // An index whose graph is mapped from `path` (written by SaveGraph), without rebuilding it.
  // Invalid, naming the file, when the file is damaged or its dimension, metric or element
  // type differ from `config` and `dim`.
  // `vectors`: the graph's vectors when it was saved without them (SaveGraph kSeparateFile).
  static arrow::Result<std::unique_ptr<DatasetIndex>> Load(
      const IndexConfig& config, int dim, const std::string& path,
      const ExternalVectors* vectors = nullptr);

  // Stops the dataset's indexing while the returned lock is held: a CatchUp in progress stops
  // early to let it in, and the graph does not change until the lock is released. Searches go
  // on. For snapshots (SaveGraph) and compactions (Replace).
  std::unique_lock<std::mutex> PauseIndexing();

  // Writes the graph of the rows indexed so far to `path`, its vectors included or not
  // (`placement`), and returns how many rows it holds. Indexing of this dataset waits while the
  // graph is written (PauseIndexing); searches do not.
  arrow::Result<int64_t> SaveGraph(const std::string& path,
                                   VectorsPlacement placement = VectorsPlacement::kInFile);

  const IndexConfig& config() const { return config_; }

  // The graph now. Its rows are numbered like the dataset's rows only together with the
  // dataset's batches of the same moment: take both from Dataset::Snapshot.
  std::shared_ptr<const HnswIndex> graph() const;

  // Swaps in `graph`, which holds the first `indexed_rows` rows (a compacted graph). The caller
  // holds the lock of PauseIndexing and publishes the matching rows at the same moment.
  void Replace(std::shared_ptr<HnswIndex> graph, int64_t indexed_rows);

  // Adds the rows of `snapshot` that are not indexed yet, in row order, `max_rows` at most
  // (so that one dataset does not hold a worker forever), linking them into the graph from
  // `threads` threads, stopping early once `cancelled` returns true. Returns the number added:
  // 0 when the graph was replaced since `snapshot` was taken (its rows are numbered for the
  // old graph; the compaction that replaced it asks for indexing again).
  arrow::Result<int64_t> CatchUp(const DatasetSnapshot& snapshot, int vector_column,
                                 int64_t max_rows, int threads,
                                 const std::function<bool()>& cancelled);

  // Rows 0 .. indexed_rows()-1 are searchable through the graph.
  int64_t indexed_rows() const { return indexed_rows_.load(std::memory_order_acquire); }

  // Rows whose graph was loaded from a snapshot rather than built by this process (0 once a
  // compaction has replaced the loaded graph).
  int64_t restored_rows() const { return restored_rows_.load(std::memory_order_relaxed); }

 private:
  DatasetIndex(IndexConfig config, std::unique_ptr<HnswIndex> hnsw, int64_t restored_rows)
      : config_(std::move(config)),
        hnsw_(std::move(hnsw)),
        restored_rows_(restored_rows),
        indexed_rows_(restored_rows) {}

  const IndexConfig config_;
  mutable std::mutex graph_mutex_;  // guards the pointer hnsw_ (not the graph)
  std::shared_ptr<HnswIndex> hnsw_;
  std::atomic<int64_t> restored_rows_;
  std::mutex catch_up_mutex_;  // held while the graph changes, is saved or is replaced
  std::atomic<int> pausers_waiting_{0};
  std::atomic<int64_t> indexed_rows_;
};

}  // namespace arbalest
