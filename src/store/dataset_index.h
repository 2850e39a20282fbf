// The vector index of one dataset: an HNSW graph per segment of the dataset's rows
// (store/segment.h), fed in row order by the index workers (graph row i of a segment is its
// local row i), plus what search needs to know about the
// dataset's vectors (metric, element type).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "index/hnsw_index.h"
#include "index/metric.h"
#include "simd/element_type.h"
#include "store/dataset_layout.h"
#include "store/segment.h"

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
//   longbow.index.build_precision int8 (default), float16 or float32: what inserts compare
//                                 for float32 vectors: int8 codes of the rows (1 more byte
//                                 per dimension per row; float16 copies instead for a graph
//                                 whose rows they cannot separate), float16 copies (2 more
//                                 bytes) or the rows themselves (no more bytes, a slower build)
//   longbow.index.segment_max_bytes
//                                 bytes of vectors at which the active segment is sealed and
//                                 a new one (a new graph) started (store/segment.h; default
//                                 --segment-max-bytes; by default no sealing)
struct IndexConfig {
  Metric metric = Metric::kL2;
  simd::ElementType element_type = simd::ElementType::kFloat32;
  // A dataset's inserts compare int8 codes unless its metadata says otherwise: the float16
  // copies' recall for half their memory and a faster build (docs/benchmarks.md); a graph whose
  // rows int8 codes cannot tell apart uses float16 copies (HnswIndex's int8 fallback).
  HnswParams params{.int8_build = true};
  int64_t segment_max_bytes = 0;  // 0: DefaultSegmentMaxBytes()
};

// The element type an index stores vectors of Arrow type `value_type` in (float32, float16, int8,
// uint8: the same). Invalid for another type.
arrow::Result<simd::ElementType> ElementTypeOf(const arrow::DataType& value_type);

// Reads the configuration from a dataset's schema metadata. Invalid names a bad key or value.
arrow::Result<IndexConfig> IndexConfigFor(const arrow::Schema& schema, const DatasetLayout& layout);

// The vectors of `batch`'s rows [begin, end) as float32, row-major, appended to `out`.
void AppendVectorsAsFloat(const arrow::RecordBatch& batch, int vector_column, int64_t begin,
                          int64_t end, std::vector<float>* out);

// One graph per segment of the dataset (store/segment.h): segment s's graph holds its local
// rows. Thread-safe: CatchUp serializes itself; searches may run concurrently with it. A
// compaction replaces the graphs as a whole (Replace): readers hold the graphs they started
// with.
class DatasetIndex {
 public:
  // An index of one empty segment.
  static arrow::Result<std::unique_ptr<DatasetIndex>> Make(const IndexConfig& config, int dim);

  // A graph file of a snapshot, and its vectors when it was saved without them
  // (VectorsPlacement::kSeparateFile).
  struct GraphFile {
    std::string path;
    const ExternalVectors* vectors = nullptr;
  };
  // An index of one segment per file of `graphs` (in segment order, at least one), each graph
  // mapped, without rebuilding it; every row of them counts as restored. Invalid, naming the
  // file, when a file is damaged or its dimension, metric or element type differ from `config`
  // and `dim`.
  static arrow::Result<std::unique_ptr<DatasetIndex>> Load(const IndexConfig& config, int dim,
                                                           const std::vector<GraphFile>& graphs);

  // Stops the dataset's indexing while the returned lock is held: a CatchUp in progress stops
  // early to let it in, and no graph changes until the lock is released. Searches go on. For
  // snapshots (which save the graphs), compactions (Replace) and vector sharing.
  std::unique_lock<std::mutex> PauseIndexing();

  const IndexConfig& config() const { return config_; }

  // A segment's graph and its linked local rows [0, indexed_rows).
  struct SegmentGraph {
    std::shared_ptr<HnswIndex> graph;
    int64_t indexed_rows = 0;
  };
  // Every segment's, in segment order. Numbered like the dataset's rows only together with the
  // dataset's segments of the same moment: take both from Dataset::Snapshot.
  std::vector<SegmentGraph> Graphs() const;
  size_t segment_count() const;
  // Whether a segment's graph gave its int8 build codes up for float16 copies (HnswIndex's
  // int8 fallback), which it may do in the middle of an indexing turn.
  bool int8_fell_back() const;
  // The linked rows of the last (active) segment's graph: more than the segment's rows while
  // a snapshot's graph is being loaded, and the segment must not seal before it holds them.
  int64_t active_indexed_rows() const;

  // Starts an empty graph for a new last segment. The caller (Dataset) holds its state lock
  // exclusively and publishes the segment at the same moment.
  arrow::Status AddSegment();

  // Adds `adopted`, a sealed segment's graph with every row linked (Dataset::Commit of a
  // SegmentMutation), after the active segment (in its place when `replace_active`: it holds no
  // row), then `fresh`, an empty graph made by NewGraph, as the new active segment. The caller
  // holds the lock of PauseIndexing and the dataset's state lock exclusively, and publishes the
  // segments' rows at the same moment.
  void AdoptSegment(std::shared_ptr<HnswIndex> adopted, std::shared_ptr<HnswIndex> fresh,
                    bool replace_active);
  // An empty graph of this index's parameters.
  arrow::Result<std::shared_ptr<HnswIndex>> NewGraph() const;

  // Swaps in `graphs` (one per segment, compacted ones), which hold their indexed_rows. The
  // caller holds the lock of PauseIndexing and publishes the matching rows at the same moment.
  void Replace(std::vector<SegmentGraph> graphs);

  // Swaps `merged` (store/segment_merge.h), the graph of the rows of two adjacent segments whose
  // graphs are `first` and `second`, all linked, in for those two segments, which become one.
  // Returns the merged segment's position, or nullopt when the two are no longer adjacent
  // segments of this index (a compaction replaced one). The caller holds the lock of
  // PauseIndexing and publishes the segments' new boundaries at the same moment.
  std::optional<size_t> ReplacePair(const HnswIndex* first, const HnswIndex* second,
                                    std::shared_ptr<HnswIndex> merged);

  // Adds the rows of `snapshot` that are not linked yet, segment by segment in order (sealed
  // ones first), `max_rows` at most (so that one dataset does not hold a worker forever),
  // linking them into their segment's graph from `threads` threads, stopping early once
  // `cancelled` returns true. Returns the number added: 0 when a graph was replaced since
  // `snapshot` was taken (its rows are numbered for the old graphs; the compaction that
  // replaced them asks for indexing again).
  arrow::Result<int64_t> CatchUp(const DatasetSnapshot& snapshot, int vector_column,
                                 int64_t max_rows, int threads,
                                 const std::function<bool()>& cancelled);

  // Rows linked into the graphs, all segments together.
  int64_t indexed_rows() const { return indexed_rows_.load(std::memory_order_acquire); }

  // Rows whose graph was loaded from a snapshot rather than built by this process (0 once a
  // compaction has replaced the loaded graph).
  int64_t restored_rows() const { return restored_rows_.load(std::memory_order_relaxed); }

 private:
  struct Segment {
    explicit Segment(std::shared_ptr<HnswIndex> graph, int64_t rows)
        : graph(std::move(graph)), indexed_rows(rows) {}
    const std::shared_ptr<HnswIndex> graph;
    std::atomic<int64_t> indexed_rows;
  };

  // One segment per graph, every row of `graphs` restored when `restored`.
  DatasetIndex(IndexConfig config, std::vector<std::unique_ptr<HnswIndex>> graphs, bool restored);

  // The segments now (a copy of the list; the graphs are shared).
  std::vector<std::shared_ptr<Segment>> SegmentsNow() const;
  // Links local rows [segment.indexed_rows, end) of `view` (whose rows are in `batches`, a
  // dataset's) into its graph; adds them to *added.
  arrow::Status LinkRows(Segment& segment, const SegmentView& view,
                         const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                         int vector_column, int64_t end, int threads,
                         const std::function<bool()>& cancelled, int64_t* added);

  const IndexConfig config_;
  mutable Mutex graph_mutex_;  // guards the list segments_ (not the graphs)
  std::vector<std::shared_ptr<Segment>> segments_ GUARDED_BY(graph_mutex_);
  std::atomic<int64_t> restored_rows_;
  std::mutex catch_up_mutex_;  // held while a graph changes, is saved or is replaced
  std::atomic<int> pausers_waiting_{0};
  std::atomic<int64_t> indexed_rows_;
};

}  // namespace arbalest
