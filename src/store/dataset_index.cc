#include "store/dataset_index.h"

#include <arrow/array.h>
#include <arrow/status.h>
#include <arrow/util/key_value_metadata.h>

#include <charconv>
#include <string>

#include "store/dataset.h"
#include "store/vector_sharing.h"

namespace arbalest {
namespace {

// Rows added to the graph between two updates of indexed_rows() (and cancellation checks).
constexpr int64_t kRowsPerSlice = 2048;

arrow::Result<uint32_t> PositiveInt(const std::string& key, const std::string& value) {
  uint32_t number = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || ptr != value.data() + value.size() || number == 0) {
    return arrow::Status::Invalid("schema metadata '", key, "' must be a positive integer, got '",
                                  value, "'");
  }
  return number;
}

arrow::Result<int64_t> PositiveBytes(const std::string& key, const std::string& value) {
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || ptr != value.data() + value.size() || number <= 0) {
    return arrow::Status::Invalid("schema metadata '", key,
                                  "' must be a positive number of bytes, got '", value, "'");
  }
  return number;
}

}  // namespace

arrow::Result<simd::ElementType> ElementTypeOf(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::FLOAT:
      return simd::ElementType::kFloat32;
    case arrow::Type::HALF_FLOAT:
      return simd::ElementType::kFloat16;
    case arrow::Type::INT8:
      return simd::ElementType::kInt8;
    case arrow::Type::UINT8:
      return simd::ElementType::kUInt8;
    default:
      return arrow::Status::Invalid("no index for vectors of ", type.ToString());
  }
}

arrow::Result<IndexConfig> IndexConfigFor(const arrow::Schema& schema,
                                          const DatasetLayout& layout) {
  IndexConfig config;
  ARROW_ASSIGN_OR_RAISE(config.element_type, ElementTypeOf(*layout.vector.value_type));
  const auto& metadata = schema.metadata();
  if (!metadata) return config;
  for (int64_t i = 0; i < metadata->size(); ++i) {
    const std::string& key = metadata->key(i);
    const std::string& value = metadata->value(i);
    if (key == "longbow.metric") {
      auto metric = ParseMetric(value);
      if (!metric.ok()) {
        return arrow::Status::Invalid("schema metadata 'longbow.metric': ",
                                      metric.status().message());
      }
      config.metric = *metric;
    } else if (key == "longbow.index.m") {
      ARROW_ASSIGN_OR_RAISE(config.params.m, PositiveInt(key, value));
    } else if (key == "longbow.index.ef_construction") {
      ARROW_ASSIGN_OR_RAISE(config.params.ef_construction, PositiveInt(key, value));
    } else if (key == "longbow.index.quantization") {
      auto quantization = ParseQuantization(value);
      if (!quantization.ok()) {
        return arrow::Status::Invalid("schema metadata '", key,
                                      "': ", quantization.status().message());
      }
      config.params.quantization = *quantization;
    } else if (key == "longbow.index.pq_m") {
      ARROW_ASSIGN_OR_RAISE(config.params.pq_m, PositiveInt(key, value));
    } else if (key == "longbow.index.training_rows") {
      ARROW_ASSIGN_OR_RAISE(const uint32_t rows, PositiveInt(key, value));
      config.params.sq8_training_rows = rows;
      config.params.pq_training_rows = rows;
    } else if (key == "longbow.index.segment_max_bytes") {
      ARROW_ASSIGN_OR_RAISE(config.segment_max_bytes, PositiveBytes(key, value));
    } else if (key == "longbow.index.build_precision") {
      if (value != "float16" && value != "float32" && value != "int8") {
        return arrow::Status::Invalid("schema metadata '", key,
                                      "' must be int8, float16 or float32, got '", value, "'");
      }
      config.params.float16_build = value == "float16";
      config.params.int8_build = value == "int8";
    }
  }
  return config;
}

void AppendVectorsAsFloat(const arrow::RecordBatch& batch, int vector_column, int64_t begin,
                          int64_t end, std::vector<float>* out) {
  const auto& list = static_cast<const arrow::FixedSizeListArray&>(*batch.column(vector_column));
  const int32_t dim = list.list_type()->list_size();
  const int byte_width = list.value_type()->byte_width();
  const uint8_t* base = VectorBytes(batch, vector_column, begin);
  auto type = ElementTypeOf(*list.value_type()).ValueOrDie();  // stored types are all indexable
  const size_t first = out->size();
  out->resize(first + static_cast<size_t>((end - begin) * dim));
  for (int64_t row = 0; row < end - begin; ++row) {
    simd::DecodeRow(type, base + row * dim * byte_width, static_cast<size_t>(dim),
                    out->data() + first + row * dim);
  }
}

DatasetIndex::DatasetIndex(IndexConfig config, std::vector<std::unique_ptr<HnswIndex>> graphs,
                           bool restored)
    : config_(std::move(config)), restored_rows_(0), indexed_rows_(0) {
  for (auto& graph : graphs) {
    const auto rows = restored ? static_cast<int64_t>(graph->size()) : 0;
    restored_rows_.fetch_add(rows, std::memory_order_relaxed);
    indexed_rows_.fetch_add(rows, std::memory_order_relaxed);
    segments_.push_back(std::make_shared<Segment>(std::move(graph), rows));
  }
}

arrow::Result<std::unique_ptr<DatasetIndex>> DatasetIndex::Make(const IndexConfig& config,
                                                                int dim) {
  std::vector<std::unique_ptr<HnswIndex>> graphs;
  ARROW_ASSIGN_OR_RAISE(
      graphs.emplace_back(),
      HnswIndex::Make(static_cast<size_t>(dim), config.metric, config.element_type, config.params));
  return std::unique_ptr<DatasetIndex>(new DatasetIndex(config, std::move(graphs), false));
}

arrow::Result<std::unique_ptr<DatasetIndex>> DatasetIndex::Load(
    const IndexConfig& config, int dim, const std::vector<GraphFile>& files) {
  std::vector<std::unique_ptr<HnswIndex>> graphs;
  for (const GraphFile& file : files) {
    ARROW_ASSIGN_OR_RAISE(auto hnsw, HnswIndex::Load(file.path, file.vectors));
    if (hnsw->dim() != static_cast<size_t>(dim) || hnsw->metric() != config.metric ||
        hnsw->element_type() != config.element_type) {
      return arrow::Status::Invalid(
          "HNSW index file ", file.path, " does not fit its dataset: dim ", hnsw->dim(), " (want ",
          dim, "), metric ", MetricName(hnsw->metric()), " (want ", MetricName(config.metric),
          "), element type ", simd::ElementTypeName(hnsw->element_type()), " (want ",
          simd::ElementTypeName(config.element_type), ")");
    }
    graphs.push_back(std::move(hnsw));
  }
  if (graphs.empty()) return arrow::Status::Invalid("a dataset index needs a graph");
  return std::unique_ptr<DatasetIndex>(new DatasetIndex(config, std::move(graphs), true));
}

std::unique_lock<std::mutex> DatasetIndex::PauseIndexing() {
  pausers_waiting_.fetch_add(1);
  std::unique_lock lock(catch_up_mutex_);
  pausers_waiting_.fetch_sub(1);
  return lock;
}

std::vector<std::shared_ptr<DatasetIndex::Segment>> DatasetIndex::SegmentsNow() const {
  MutexLock lock(&graph_mutex_);
  return segments_;
}

std::vector<DatasetIndex::SegmentGraph> DatasetIndex::Graphs() const {
  MutexLock lock(&graph_mutex_);
  std::vector<SegmentGraph> graphs;
  graphs.reserve(segments_.size());
  for (const auto& segment : segments_) {
    graphs.push_back({segment->graph, segment->indexed_rows.load(std::memory_order_acquire)});
  }
  return graphs;
}

bool DatasetIndex::int8_fell_back() const {
  MutexLock lock(&graph_mutex_);
  for (const auto& segment : segments_) {
    if (segment->graph->int8_fell_back()) return true;
  }
  return false;
}

size_t DatasetIndex::segment_count() const {
  MutexLock lock(&graph_mutex_);
  return segments_.size();
}

int64_t DatasetIndex::active_indexed_rows() const {
  MutexLock lock(&graph_mutex_);
  return segments_.back()->indexed_rows.load(std::memory_order_acquire);
}

arrow::Status DatasetIndex::AddSegment() {
  std::shared_ptr<HnswIndex> first = SegmentsNow().front()->graph;
  ARROW_ASSIGN_OR_RAISE(auto graph, HnswIndex::Make(first->dim(), first->metric(),
                                                    first->element_type(), first->params()));
  MutexLock lock(&graph_mutex_);
  segments_.push_back(std::make_shared<Segment>(std::move(graph), 0));
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<HnswIndex>> DatasetIndex::NewGraph() const {
  std::shared_ptr<HnswIndex> first = SegmentsNow().front()->graph;
  ARROW_ASSIGN_OR_RAISE(auto graph, HnswIndex::Make(first->dim(), first->metric(),
                                                    first->element_type(), first->params()));
  return std::shared_ptr<HnswIndex>(std::move(graph));
}

void DatasetIndex::AdoptSegment(std::shared_ptr<HnswIndex> adopted,
                                std::shared_ptr<HnswIndex> fresh, bool replace_active) {
  const auto rows = static_cast<int64_t>(adopted->size());
  MutexLock lock(&graph_mutex_);
  auto segment = std::make_shared<Segment>(std::move(adopted), rows);
  if (replace_active) {
    indexed_rows_.fetch_sub(segments_.back()->indexed_rows.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
    segments_.back() = std::move(segment);
  } else {
    segments_.push_back(std::move(segment));
  }
  segments_.push_back(std::make_shared<Segment>(std::move(fresh), 0));
  indexed_rows_.fetch_add(rows, std::memory_order_release);
}

void DatasetIndex::Replace(std::vector<SegmentGraph> graphs) {
  std::vector<std::shared_ptr<Segment>> segments;
  int64_t indexed = 0;
  for (SegmentGraph& graph : graphs) {
    indexed += graph.indexed_rows;
    segments.push_back(std::make_shared<Segment>(std::move(graph.graph), graph.indexed_rows));
  }
  MutexLock lock(&graph_mutex_);
  segments_ = std::move(segments);
  indexed_rows_.store(indexed, std::memory_order_release);
  restored_rows_.store(0, std::memory_order_relaxed);
}

std::optional<size_t> DatasetIndex::ReplacePair(const HnswIndex* first, const HnswIndex* second,
                                                std::shared_ptr<HnswIndex> merged) {
  MutexLock lock(&graph_mutex_);
  for (size_t s = 0; s + 1 < segments_.size(); ++s) {
    if (segments_[s]->graph.get() != first || segments_[s + 1]->graph.get() != second) continue;
    const int64_t rows = static_cast<int64_t>(merged->size());
    segments_[s] = std::make_shared<Segment>(std::move(merged), rows);
    segments_.erase(segments_.begin() + static_cast<ptrdiff_t>(s) + 1);
    if (s == 0) restored_rows_.store(0, std::memory_order_relaxed);  // the loaded graph went
    return s;
  }
  return std::nullopt;
}

arrow::Result<int64_t> DatasetIndex::CatchUp(const DatasetSnapshot& snapshot, int vector_column,
                                             int64_t max_rows, int threads,
                                             const std::function<bool()>& cancelled) {
  std::lock_guard lock(catch_up_mutex_);
  const std::vector<std::shared_ptr<Segment>> segments = SegmentsNow();
  int64_t added = 0;
  for (size_t s = 0; s < snapshot.segments.size() && added < max_rows; ++s) {
    const SegmentView& view = snapshot.segments[s];
    // Compacted since: the snapshot's rows are renumbered.
    if (s >= segments.size() || view.graph != segments[s]->graph) return added;
    Segment& segment = *segments[s];
    const int64_t linked = segment.indexed_rows.load(std::memory_order_relaxed);
    if (linked >= view.rows) {
      // Sealed and all linked: its graph never takes a row again but in a merge, which makes
      // its copies anew.
      if (s + 1 < snapshot.segments.size()) segment.graph->DropBuildCopies();
      continue;
    }
    const int64_t end = std::min(view.rows, linked + max_rows - added);
    const int64_t before = added;
    ARROW_RETURN_NOT_OK(
        LinkRows(segment, view, snapshot.batches, vector_column, end, threads, cancelled, &added));
    // Stopped early (cancelled, or a pause asked for): the next turn goes on from here.
    if (added - before < end - linked) break;
  }
  return added;
}

arrow::Status DatasetIndex::LinkRows(
    Segment& segment, const SegmentView& view,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int vector_column, int64_t end,
    int threads, const std::function<bool()>& cancelled, int64_t* added) {
  HnswIndex& graph = *segment.graph;
  int64_t next = segment.indexed_rows.load(std::memory_order_relaxed);  // local rows
  const int64_t start_added = *added;
  std::vector<float> vectors;
  int64_t batch_start = -view.first_row;  // batches' first rows, local numbering
  for (const auto& batch : batches) {
    const int64_t batch_end = batch_start + batch->num_rows();
    if (batch_end > next && next < end) {
      const int64_t begin = next - batch_start;
      const int64_t stop = std::min(batch_end, end) - batch_start;
      // float32 rows are added from the batch itself; others decoded into a float copy.
      const float* rows_data;
      if (config_.element_type == simd::ElementType::kFloat32) {
        rows_data = reinterpret_cast<const float*>(VectorBytes(*batch, vector_column, begin));
      } else {
        vectors.clear();
        AppendVectorsAsFloat(*batch, vector_column, begin, stop, &vectors);
        rows_data = vectors.data();
      }
      const size_t dim = graph.dim();
      // Slices of a few thousand rows: searches see progress, and a drop stops indexing soon.
      for (int64_t row = 0; row < stop - begin; row += kRowsPerSlice) {
        if (cancelled()) return arrow::Status::OK();
        // A snapshot or a compaction waits for the graph: yield once this turn added something
        // (a turn that adds nothing is not resumed by the index workers).
        if (*added > start_added && pausers_waiting_.load(std::memory_order_relaxed) > 0) {
          return arrow::Status::OK();
        }
        const int64_t rows = std::min(kRowsPerSlice, stop - begin - row);
        ARROW_ASSIGN_OR_RAISE(
            RowId id, graph.AddBatch(std::span<const float>(rows_data + row * dim,
                                                            static_cast<size_t>(rows) * dim),
                                     threads));
        if (static_cast<int64_t>(id) != next) {
          return arrow::Status::UnknownError("index row ", id, " is not segment row ", next,
                                             " (dataset row ", view.first_row + next, ")");
        }
        next += rows;
        *added += rows;
        segment.indexed_rows.store(next, std::memory_order_release);
        indexed_rows_.fetch_add(rows, std::memory_order_acq_rel);
      }
    }
    batch_start = batch_end;
    if (batch_start >= end) break;
  }
  return arrow::Status::OK();
}

}  // namespace arbalest
