// Side-by-side HNSW benchmark: this index vs hnswlib vs FAISS IndexHNSWFlat on the same data
// (seeded clustered vectors, .fbin files such as bench/data/fashion_mnist.py writes, or a
// directory of .npy files with exact ground truth such as the WordNet MiniLM set), the same
// thread count, metric and M / ef_construction.
// Reports build throughput, QPS and p50/p99 latency at recall@10 0.90/0.95/0.99 (linear
// interpolation over an ef sweep), recall and QPS of our engines at their default ef (a search
// without ef), and RSS growth while building. Prints its own command line.
//
// --data DIR reads corpus_f16.npy (float16 or corpus.npy float32 rows), dev_queries.npy
// (float32), dev_gt.npy (int32, exact neighbours best first; brute force when absent or when
// --rows cuts the corpus) and, when there, dev_queries.jsonl.gz: each query's "kind" (e.g.
// synset / example), reported as separate groups ("arbalest/example"). Metric: cosine by
// default with --data, else l2; hnswlib and FAISS run inner product for cosine and dot (the
// set's rows are unit vectors: inner product = cosine).
//
// Our index runs on full vectors, SQ8 codes and PQ codes (both re-ranked), and on full vectors
// with float32 construction distances (arb-f32build: no float16 construction copies) or int8
// construction codes (arb-int8build: 1 byte per dimension instead of 2); arb-rowwise
// links rows one by one instead of in sub-batches, arb-4k allocates without huge pages.
// --slice-rows N adds our rows in AddBatch calls of N rows (a dataset's index workers add 2048
// at a time) instead of one. --drift F scales row i by 1 + (F - 1) i / (rows - 1) and query q
// alike along the queries (data whose range grows with its ids, as arriving data may; the
// ground truth is then brute force): int8 build codes must widen their range as rows arrive.
// --int8-fallback sets HnswParams::int8_fallback_fraction (1: int8 codes however many rows they
// merge); arb-int8build prints its last separation check.
// --element stores our rows as float16, bfloat16, int8 or uint8: the data is first rounded to
// that type's values (integers: scaled by --int-scale, uint8 shifted by 128), and every engine
// gets the same rounded values (hnswlib and FAISS as float32).
//
//   index_bench [--rows N] [--dim D] [--queries Q] [--k K] [--threads T] [--m M] [--efc EF]
//               [--pq-m BYTES] [--base BASE.fbin --query-file QUERIES.fbin]
//               [--data DIR] [--metric l2|cosine|dot]
//               [--element float32|float16|bfloat16|int8|uint8] [--int-scale S]
//               [--slice-rows N] [--drift F] [--int8-fallback FRACTION]
//               [--engines
//               arbalest,arb-f32build,arb-int8build,arb-rowwise,arb-4k,arb-sq8,arb-pq,hnswlib,faiss]
#include <faiss/IndexHNSW.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>
#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../tests/index/clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/metric.h"
#include "index/record_arena.h"
#include "simd/element_type.h"

namespace arbalest {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  size_t rows = 100000, dim = 384, queries = 1000, k = 10;
  int threads = 2;
  uint32_t m = 16, efc = 200;
  uint32_t pq_m = 0;                                        // 0: the index's default
  simd::ElementType element = simd::ElementType::kFloat32;  // how our index stores rows
  float int_scale = 30.0f;  // int8/uint8: the clustered data's +-4 onto the integer range
  // .fbin files (int32 rows, int32 dim, rows x dim float32) to use instead of clustered data;
  // --rows and --queries then cap how many of their rows are read.
  std::string base, query_file;
  std::string data_dir;  // --data: .npy corpus, queries and ground truth
  Metric metric = Metric::kL2;
  bool metric_given = false, rows_given = false, queries_given = false;
  // Comma-separated engine names to run (all when empty), e.g. "arbalest,hnswlib" for a
  // quicker side-by-side build comparison.
  std::string engines;
  size_t slice_rows = 0;  // 0: one AddBatch
  float drift = 1.0f;     // the last row's scale (the first row's is 1)
  double int8_fallback = HnswParams{}.int8_fallback_fraction;  // --int8-fallback
};

// The first `max_rows` rows of an .fbin file; exits naming the file when it cannot be read.
testing::Dataset ReadFbin(const std::string& path, size_t max_rows) {
  std::ifstream in(path, std::ios::binary);
  int32_t header[2] = {0, 0};
  if (!in.read(reinterpret_cast<char*>(header), sizeof(header)) || header[0] <= 0 ||
      header[1] <= 0) {
    std::fprintf(stderr, "%s: not an .fbin file (int32 rows, int32 dim, floats)\n", path.c_str());
    std::exit(2);
  }
  testing::Dataset data;
  data.dim = static_cast<size_t>(header[1]);
  const size_t rows = std::min(static_cast<size_t>(header[0]), max_rows);
  data.values.resize(rows * data.dim);
  if (!in.read(reinterpret_cast<char*>(data.values.data()),
               static_cast<std::streamsize>(data.values.size() * sizeof(float)))) {
    std::fprintf(stderr, "%s: truncated (%zu rows of %zu floats expected)\n", path.c_str(), rows,
                 data.dim);
    std::exit(2);
  }
  return data;
}

// A 2-d .npy array: its dtype ("<f2", "<f4", "<i4"), shape and raw little-endian values.
struct Npy {
  std::string descr;
  size_t rows = 0, cols = 0;
  std::vector<char> bytes;
};

// Reads a C-order 2-d .npy file (format 1.0 to 3.0); exits naming the file when it cannot.
Npy ReadNpy(const std::string& path) {
  auto fail = [&](const char* why) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), why);
    std::exit(2);
  };
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail("not an .npy file");
  uint32_t header_bytes = 0;
  if (magic[6] == 1) {
    uint16_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 2);
    header_bytes = n;
  } else {
    in.read(reinterpret_cast<char*>(&header_bytes), 4);
  }
  std::string header(header_bytes, '\0');
  if (!in.read(header.data(), header_bytes)) fail("truncated header");
  auto value_of = [&](const std::string& key) {
    const size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) fail("header without descr, fortran_order or shape");
    return header.substr(header.find(':', at) + 1);
  };
  Npy npy;
  const std::string descr = value_of("descr");
  npy.descr = descr.substr(descr.find('\'') + 1, 3);
  if (value_of("fortran_order").find("False") > 2) fail("Fortran order");
  const std::string shape = value_of("shape");
  if (std::sscanf(shape.c_str(), " (%zu, %zu)", &npy.rows, &npy.cols) != 2) fail("not 2-d");
  const size_t width = npy.descr == "<f2" ? 2 : npy.descr == "<f4" || npy.descr == "<i4" ? 4 : 0;
  if (width == 0) fail("dtype other than <f2, <f4, <i4");
  npy.bytes.resize(npy.rows * npy.cols * width);
  if (!in.read(npy.bytes.data(), static_cast<std::streamsize>(npy.bytes.size()))) fail("truncated");
  return npy;
}

// The first `max_rows` rows of a float16 or float32 .npy file as float32.
testing::Dataset NpyVectors(const std::string& path, size_t max_rows) {
  const Npy npy = ReadNpy(path);
  testing::Dataset data;
  data.dim = npy.cols;
  const size_t rows = std::min(npy.rows, max_rows);
  data.values.resize(rows * data.dim);
  if (npy.descr == "<f2") {
    simd::DecodeRow(simd::ElementType::kFloat16, npy.bytes.data(), rows * data.dim,
                    data.values.data());
  } else if (npy.descr == "<f4") {
    std::memcpy(data.values.data(), npy.bytes.data(), data.values.size() * sizeof(float));
  } else {
    std::fprintf(stderr, "%s: not float16 or float32\n", path.c_str());
    std::exit(2);
  }
  return data;
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

// The "kind" of each line of a gzipped JSON-lines file ("" where a line has none).
std::vector<std::string> JsonlKinds(const std::string& path) {
  std::vector<std::string> kinds;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return kinds;
  std::string line;
  char buffer[1 << 16];
  while (gzgets(file, buffer, sizeof(buffer)) != nullptr) {
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;
    const size_t key = line.find("\"kind\"");
    std::string kind;
    if (key != std::string::npos) {
      const size_t open = line.find('"', line.find(':', key) + 1);
      kind = line.substr(open + 1, line.find('"', open + 1) - open - 1);
    }
    kinds.push_back(kind);
    line.clear();
  }
  gzclose(file);
  return kinds;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU seconds this process has used, all threads: on a shared machine, build throughput per
// CPU second is less disturbed by other load than throughput per wall second.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Resident set size of this process, in MiB.
double RssMiB() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * 4096.0 / (1 << 20);
}

// Runs fn(i) for i in [0, n) on `threads` threads.
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      omp_set_num_threads(1);
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::thread& t : pool) t.join();
}

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* name() const = 0;
  virtual void Build(const testing::Dataset& data, int threads) = 0;
  // Row ids of the k nearest neighbours of `query`.
  virtual void Search(const float* query, size_t k, size_t ef, std::vector<int64_t>* out) = 0;
  // Whether ef 0 means the engine's own default (our index), rather than nothing.
  virtual bool has_default_ef() const { return false; }
  // The rows `row` links to on the bottom level (empty when the engine does not say).
  virtual std::vector<int64_t> BottomLinks(size_t /*row*/) const { return {}; }
};

// The shape of an engine's bottom-level graph: mean out-degree, and rows that no other row
// links to (reachable only as an entry point or from upper levels).
struct GraphShape {
  double mean_degree = 0;
  size_t unlinked = 0;
};
GraphShape BottomShape(const Engine& engine, size_t rows) {
  std::vector<uint8_t> linked(rows);
  size_t edges = 0;
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<int64_t> links = engine.BottomLinks(r);
    edges += links.size();
    for (int64_t to : links) linked[static_cast<size_t>(to)] = 1;
  }
  if (edges == 0) return {};
  return {static_cast<double>(edges) / static_cast<double>(rows),
          static_cast<size_t>(std::count(linked.begin(), linked.end(), 0))};
}

class ArbalestEngine final : public Engine {
 public:
  ArbalestEngine(const Config& config, Quantization quantization, std::string name,
                 bool float16_build = true, bool batch_link = true, bool huge_pages = true,
                 bool int8_build = false)
      : index_(HnswIndex::Make(config.dim, config.metric, config.element,
                               {.m = config.m,
                                .ef_construction = config.efc,
                                .quantization = quantization,
                                .pq_m = config.pq_m,
                                .float16_build = float16_build,
                                .int8_build = int8_build,
                                .int8_fallback_fraction = config.int8_fallback,
                                .batch_link = batch_link})
                   .ValueOrDie()),
        name_(std::move(name)),
        huge_pages_(huge_pages),
        slice_rows_(config.slice_rows) {}
  const char* name() const override { return name_.c_str(); }
  bool has_default_ef() const override { return true; }
  // AddBatch, as the store's index workers add rows: rows numbered in data order (concurrent
  // Adds would number them in arrival order, and recall would be scored against the wrong rows),
  // linked from `threads` threads.
  void Build(const testing::Dataset& data, int threads) override {
    RecordArena::SetHugePages(huge_pages_);  // the index allocates its arenas as it grows
    const size_t dim = index_->dim();
    const size_t slice = slice_rows_ == 0 ? data.rows() : slice_rows_;
    for (size_t row = 0; row < data.rows(); row += slice) {
      const size_t n = std::min(slice, data.rows() - row);
      const std::span<const float> rows(data.values.data() + row * dim, n * dim);
      if (!index_->AddBatch(rows, threads).ok()) std::abort();
    }
    const Int8BuildCodes::Separation separation = index_->int8_separation();
    if (separation.rows > 0) {
      std::printf(
          "%s: int8 codes checked over %llu rows: %llu distinct int8 codes, %llu distinct float16 "
          "copies (merged fraction %.4f)%s\n",
          name_.c_str(), static_cast<unsigned long long>(separation.rows),
          static_cast<unsigned long long>(separation.int8_distinct),
          static_cast<unsigned long long>(separation.float16_distinct),
          separation.merged_fraction(),
          index_->int8_fell_back() ? ": fell back to float16 copies" : "");
    }
    if (index_->int8_build_recodes() > 0) {
      std::printf("%s: the int8 range widened %llu times\n", name_.c_str(),
                  static_cast<unsigned long long>(index_->int8_build_recodes()));
    }
    RecordArena::SetHugePages(true);
  }
  void Search(const float* query, size_t k, size_t ef, std::vector<int64_t>* out) override {
    thread_local std::vector<Neighbor> got;
    if (!index_->Search({query, index_->dim()}, {.k = k, .ef = ef}, &got).ok()) std::abort();
    out->clear();
    for (const Neighbor& n : got) out->push_back(n.row);
  }
  std::vector<int64_t> BottomLinks(size_t row) const override {
    const std::vector<RowId> links = index_->NeighborsOf(static_cast<RowId>(row), 0);
    return {links.begin(), links.end()};
  }

 private:
  std::unique_ptr<HnswIndex> index_;
  std::string name_;
  bool huge_pages_;
  size_t slice_rows_;
};

class HnswlibEngine final : public Engine {
 public:
  HnswlibEngine(const Config& config)
      : space_(config.metric == Metric::kL2
                   ? std::unique_ptr<hnswlib::SpaceInterface<float>>(
                         std::make_unique<hnswlib::L2Space>(config.dim))
                   : std::make_unique<hnswlib::InnerProductSpace>(config.dim)),
        index_(space_.get(), config.rows, config.m, config.efc, /*random_seed=*/42) {}
  const char* name() const override { return "hnswlib"; }
  void Build(const testing::Dataset& data, int threads) override {
    ParallelFor(data.rows(), threads, [&](size_t r) { index_.addPoint(data.row(r).data(), r); });
  }
  void Search(const float* query, size_t k, size_t ef, std::vector<int64_t>* out) override {
    // hnswlib's ef is index-wide; the sweep sets it between runs, never during one.
    if (index_.ef_ != ef) index_.setEf(ef);
    auto top = index_.searchKnn(query, k);
    out->clear();
    for (; !top.empty(); top.pop()) out->push_back(static_cast<int64_t>(top.top().second));
  }
  std::vector<int64_t> BottomLinks(size_t row) const override {
    // hnswlib's internal ids are its labels here: rows are added with label = row.
    const auto* list = index_.get_linklist0(static_cast<hnswlib::tableint>(row));
    const auto* ids = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    return {ids, ids + index_.getListCount(const_cast<hnswlib::linklistsizeint*>(list))};
  }

 private:
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;  // L2, or inner product
  hnswlib::HierarchicalNSW<float> index_;
};

class FaissEngine final : public Engine {
 public:
  FaissEngine(const Config& config)
      : index_(static_cast<int>(config.dim), static_cast<int>(config.m),
               config.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT) {
    index_.hnsw.efConstruction = static_cast<int>(config.efc);
  }
  const char* name() const override { return "faiss"; }
  void Build(const testing::Dataset& data, int threads) override {
    omp_set_num_threads(threads);
    index_.add(static_cast<faiss::Index::idx_t>(data.rows()), data.values.data());
  }
  void Search(const float* query, size_t k, size_t ef, std::vector<int64_t>* out) override {
    faiss::SearchParametersHNSW params;
    params.efSearch = static_cast<int>(ef);
    index_.hnsw.efSearch = static_cast<int>(ef);
    std::vector<float> distances(k);
    out->resize(k);
    index_.search(1, query, static_cast<faiss::Index::idx_t>(k), distances.data(), out->data(),
                  &params);
  }

 private:
  faiss::IndexHNSWFlat index_;
};

struct Point {
  size_t ef;
  double recall, qps, p50_us, p99_us;
};

Point Measure(Engine& engine, const testing::Dataset& queries,
              const std::vector<std::vector<int64_t>>& truth, size_t k, size_t ef, int threads) {
  std::vector<double> latency(queries.rows());
  std::vector<size_t> hits(queries.rows());
  const auto start = Clock::now();
  ParallelFor(queries.rows(), threads, [&](size_t q) {
    thread_local std::vector<int64_t> got;
    const auto begin = Clock::now();
    engine.Search(queries.row(q).data(), k, ef, &got);
    latency[q] = Seconds(begin) * 1e6;
    for (int64_t id : truth[q]) hits[q] += std::count(got.begin(), got.end(), id);
  });
  const double wall = Seconds(start);
  std::sort(latency.begin(), latency.end());
  size_t found = 0;
  for (size_t h : hits) found += h;
  return {ef, static_cast<double>(found) / static_cast<double>(queries.rows() * k),
          static_cast<double>(queries.rows()) / wall, latency[latency.size() / 2],
          latency[latency.size() * 99 / 100]};
}

// QPS and latencies at `target` recall, linearly interpolated between sweep points; zero
// when the sweep never reaches it.
Point AtRecall(const std::vector<Point>& sweep, double target) {
  for (size_t i = 0; i < sweep.size(); ++i) {
    if (sweep[i].recall < target) continue;
    if (i == 0) return sweep[0];
    const Point& a = sweep[i - 1];
    const Point& b = sweep[i];
    const double t = (target - a.recall) / std::max(1e-9, b.recall - a.recall);
    auto lerp = [t](double x, double y) { return x + t * (y - x); };
    return {b.ef, target, lerp(a.qps, b.qps), lerp(a.p50_us, b.p50_us), lerp(a.p99_us, b.p99_us)};
  }
  return {0, 0, 0, 0, 0};
}

// True when `name` is in the comma-separated `engines` list, or the list is empty (all).
bool Selected(const std::string& engines, const std::string& name) {
  if (engines.empty()) return true;
  const std::string list = "," + engines + ",";
  return list.find("," + name + ",") != std::string::npos;
}

simd::ElementType ParseElement(const std::string& name) {
  for (int i = 0; i < simd::kNumElementTypes; ++i) {
    const auto type = static_cast<simd::ElementType>(i);
    if (simd::ElementTypeName(type) == name) return type;
  }
  std::fprintf(stderr, "unknown --element %s (float32, float16, bfloat16, int8, uint8)\n",
               name.c_str());
  std::exit(2);
}

// `data` rounded to the values `type` can hold, as float32: what our index stores, so that
// every engine indexes the same values.
testing::Dataset RoundTo(simd::ElementType type, float int_scale, testing::Dataset data) {
  if (type == simd::ElementType::kInt8) return testing::Quantized(data, int_scale, 0);
  if (type == simd::ElementType::kUInt8) return testing::Quantized(data, int_scale, 128);
  std::vector<uint8_t> row(simd::ElementSize(type) * data.dim);
  for (size_t r = 0; r < data.rows(); ++r) {
    float* values = data.values.data() + r * data.dim;
    simd::EncodeRow(type, values, data.dim, row.data());
    simd::DecodeRow(type, row.data(), data.dim, values);
  }
  return data;
}

Config ParseArgs(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const unsigned long value = std::strtoul(argv[i + 1], nullptr, 10);
    if (flag == "--base")
      c.base = argv[i + 1];
    else if (flag == "--query-file")
      c.query_file = argv[i + 1];
    else if (flag == "--rows") {
      c.rows = value;
      c.rows_given = true;
    } else if (flag == "--dim")
      c.dim = value;
    else if (flag == "--queries") {
      c.queries = value;
      c.queries_given = true;
    } else if (flag == "--k")
      c.k = value;
    else if (flag == "--threads")
      c.threads = static_cast<int>(value);
    else if (flag == "--m")
      c.m = static_cast<uint32_t>(value);
    else if (flag == "--efc")
      c.efc = static_cast<uint32_t>(value);
    else if (flag == "--engines")
      c.engines = argv[i + 1];
    else if (flag == "--pq-m")
      c.pq_m = static_cast<uint32_t>(value);
    else if (flag == "--element")
      c.element = ParseElement(argv[i + 1]);
    else if (flag == "--int-scale")
      c.int_scale = std::strtof(argv[i + 1], nullptr);
    else if (flag == "--slice-rows")
      c.slice_rows = value;
    else if (flag == "--drift")
      c.drift = std::strtof(argv[i + 1], nullptr);
    else if (flag == "--int8-fallback")
      c.int8_fallback = std::strtod(argv[i + 1], nullptr);
    else if (flag == "--data")
      c.data_dir = argv[i + 1];
    else if (flag == "--metric") {
      const auto metric = ParseMetric(argv[i + 1]);
      if (!metric.ok()) {
        std::fprintf(stderr, "%s\n", metric.status().ToString().c_str());
        std::exit(2);
      }
      c.metric = *metric;
      c.metric_given = true;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return c;
}

// A set of queries reported on its own ("synset", "example"; "" for all the queries), with the
// ids of each query's k nearest rows.
struct Group {
  std::string name;
  testing::Dataset queries;
  std::vector<std::vector<int64_t>> truth;
};

// Row i of `data` scaled by 1 + (drift - 1) i / (rows - 1).
testing::Dataset Drift(float drift, testing::Dataset data) {
  if (drift == 1.0f || data.rows() < 2) return data;
  for (size_t row = 0; row < data.rows(); ++row) {
    const float scale =
        1.0f + (drift - 1.0f) * static_cast<float>(row) / static_cast<float>(data.rows() - 1);
    for (size_t d = 0; d < data.dim; ++d) data.values[row * data.dim + d] *= scale;
  }
  return data;
}

// The k nearest rows of each query by exact search under config.metric.
std::vector<std::vector<int64_t>> BruteForce(const Config& config, const testing::Dataset& data,
                                             const testing::Dataset& queries) {
  std::vector<std::vector<int64_t>> truth(queries.rows());
  FlatIndex flat(config.dim, config.metric);
  if (!testing::AddAll(flat, data).ok()) std::abort();
  ParallelFor(queries.rows(), config.threads, [&](size_t q) {
    std::vector<Neighbor> got;
    if (!flat.Search(queries.row(q), {.k = config.k}, &got).ok()) std::abort();
    for (const Neighbor& n : got) truth[q].push_back(n.row);
  });
  return truth;
}

// The --data directory's queries, split by kind, with their ground truth: dev_gt.npy's first k
// columns when it covers the whole corpus as read, else brute force.
std::vector<Group> DataGroups(const Config& config, const testing::Dataset& data,
                              size_t corpus_rows) {
  const std::string dir = config.data_dir + "/";
  const testing::Dataset queries =
      RoundTo(config.element, config.int_scale,
              Drift(config.drift, NpyVectors(dir + "dev_queries.npy", config.queries)));
  if (queries.dim != data.dim) {
    std::fprintf(stderr, "queries have width %zu, the corpus %zu\n", queries.dim, data.dim);
    std::exit(2);
  }
  std::vector<std::vector<int64_t>> truth;
  if (Exists(dir + "dev_gt.npy") && data.rows() == corpus_rows && config.drift == 1.0f) {
    const Npy gt = ReadNpy(dir + "dev_gt.npy");
    if (gt.descr != "<i4" || gt.rows < queries.rows() || gt.cols < config.k) {
      std::fprintf(stderr, "dev_gt.npy: want int32, >= %zu rows, >= %zu columns\n", queries.rows(),
                   config.k);
      std::exit(2);
    }
    const auto* ids = reinterpret_cast<const int32_t*>(gt.bytes.data());
    for (size_t q = 0; q < queries.rows(); ++q) {
      truth.emplace_back(ids + q * gt.cols, ids + q * gt.cols + config.k);
    }
  } else {
    truth = BruteForce(config, data, queries);
  }
  std::vector<std::string> kinds = JsonlKinds(dir + "dev_queries.jsonl.gz");
  kinds.resize(queries.rows());
  std::map<std::string, Group> by_kind;
  for (size_t q = 0; q < queries.rows(); ++q) {
    Group& group = by_kind[kinds[q]];
    group.name = kinds[q];
    group.queries.dim = queries.dim;
    group.queries.values.insert(group.queries.values.end(), queries.row(q).begin(),
                                queries.row(q).end());
    group.truth.push_back(truth[q]);
  }
  std::vector<Group> groups;
  for (auto& [kind, group] : by_kind) groups.push_back(std::move(group));
  // Synset queries first, as the set's README lists them.
  std::sort(groups.begin(), groups.end(),
            [](const Group& a, const Group& b) { return a.name > b.name; });
  return groups;
}

int Main(int argc, char** argv) {
  Config config = ParseArgs(argc, argv);
  if (config.base.empty() != config.query_file.empty()) {
    std::fprintf(stderr, "--base and --query-file go together\n");
    return 2;
  }
  if (!config.data_dir.empty()) {
    // The whole set unless --rows / --queries cut it.
    if (!config.metric_given) config.metric = Metric::kCosine;
    if (!config.rows_given) config.rows = SIZE_MAX;
    if (!config.queries_given) config.queries = SIZE_MAX;
  }
  const bool from_files = !config.base.empty();
  size_t corpus_rows = 0;
  testing::Dataset data;
  std::string source = "clustered (64 Gaussian clusters, intrinsic dim 32)";
  if (!config.data_dir.empty()) {
    const std::string f16 = config.data_dir + "/corpus_f16.npy";
    const std::string path = Exists(f16) ? f16 : config.data_dir + "/corpus.npy";
    data = NpyVectors(path, config.rows);
    corpus_rows = ReadNpy(path).rows;
    source = config.data_dir;
  } else if (from_files) {
    data = ReadFbin(config.base, config.rows);
    source = config.base;
  } else {
    data = testing::ClusteredData(config.rows, config.dim, 1);
  }
  data = RoundTo(config.element, config.int_scale, Drift(config.drift, std::move(data)));
  config.rows = data.rows();
  config.dim = data.dim;
  std::vector<Group> groups;
  if (!config.data_dir.empty()) {
    groups = DataGroups(config, data, corpus_rows);
  } else {
    Group all;
    all.queries = RoundTo(
        config.element, config.int_scale,
        Drift(config.drift, from_files ? ReadFbin(config.query_file, config.queries)
                                       : testing::ClusteredData(config.queries, config.dim, 2)));
    if (all.queries.dim != data.dim) {
      std::fprintf(stderr, "%s has width %zu, %s %zu\n", config.base.c_str(), data.dim,
                   config.query_file.c_str(), all.queries.dim);
      return 2;
    }
    all.truth = BruteForce(config, data, all.queries);
    groups.push_back(std::move(all));
  }
  config.queries = 0;
  for (const Group& group : groups) config.queries += group.queries.rows();
  std::printf("command:");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf(
      "\ndata: %zu x %zu %s %s, metric %s, %zu queries, k=%zu, threads=%d, M=%u, "
      "ef_construction=%u, kernels=%s, slice rows %zu, drift %g\n",
      config.rows, config.dim, std::string(simd::ElementTypeName(config.element)).c_str(),
      source.c_str(), std::string(MetricName(config.metric)).c_str(), config.queries, config.k,
      config.threads, config.m, config.efc, simd::DispatchedTargetName(), config.slice_rows,
      static_cast<double>(config.drift));
  for (const Group& group : groups) {
    if (!group.name.empty())
      std::printf("query group %s: %zu\n", group.name.c_str(), group.truth.size());
  }

  std::vector<size_t> efs;  // ef below k searches with ef k: each once
  for (size_t ef : {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512}) {
    if (efs.empty() || std::max(ef, config.k) > efs.back()) efs.push_back(std::max(ef, config.k));
  }
  const std::vector<std::pair<std::string, std::function<std::unique_ptr<Engine>()>>> makers = {
      {"arbalest",
       [&] { return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arbalest"); }},
      {"arb-f32build",
       [&] {
         return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arb-f32build",
                                                 /*float16_build=*/false);
       }},
      {"arb-int8build",
       [&] {
         return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arb-int8build",
                                                 /*float16_build=*/false, /*batch_link=*/true,
                                                 /*huge_pages=*/true, /*int8_build=*/true);
       }},
      {"arb-rowwise",
       [&] {
         return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arb-rowwise",
                                                 /*float16_build=*/true, /*batch_link=*/false);
       }},
      {"arb-4k",
       [&] {
         return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arb-4k",
                                                 /*float16_build=*/true, /*batch_link=*/true,
                                                 /*huge_pages=*/false);
       }},
      {"arb-sq8",
       [&] { return std::make_unique<ArbalestEngine>(config, Quantization::kSq8, "arb-sq8"); }},
      {"arb-pq",
       [&] { return std::make_unique<ArbalestEngine>(config, Quantization::kPq, "arb-pq"); }},
      {"hnswlib", [&] { return std::make_unique<HnswlibEngine>(config); }},
      {"faiss", [&] { return std::make_unique<FaissEngine>(config); }}};
  // Builds one after the other, none freed, so each RSS growth is that engine's alone.
  struct Run {
    std::unique_ptr<Engine> engine;
    double build_per_second = 0, build_per_cpu_second = 0, rss_mib = 0;
    std::vector<std::vector<Point>> sweeps;  // per group
    std::vector<Point> defaults;             // per group, at the engine's default ef
    std::vector<bool> done;                  // per group
  };
  std::vector<Run> runs;
  // SQ8/PQ codes and float16 construction copies exist over float32 rows only.
  const bool float32 = config.element == simd::ElementType::kFloat32;
  for (const auto& [name, make] : makers) {
    if (!Selected(config.engines, name)) continue;
    if (!float32 && (name == "arb-f32build" || name == "arb-int8build" || name == "arb-sq8" ||
                     name == "arb-pq")) {
      std::printf("skipping %s: float32 rows only\n", name.c_str());
      continue;
    }
    const double rss_before = RssMiB();
    Run run;
    run.engine = make();
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    run.engine->Build(data, config.threads);
    run.build_per_second = static_cast<double>(config.rows) / Seconds(start);
    run.build_per_cpu_second = static_cast<double>(config.rows) / (CpuSeconds() - cpu_start);
    run.rss_mib = RssMiB() - rss_before;
    run.sweeps.resize(groups.size());
    run.done.resize(groups.size());
    runs.push_back(std::move(run));
  }
  // The ef sweep interleaves the engines, so load from elsewhere hits them alike.
  for (size_t ef : efs) {
    for (Run& run : runs) {
      for (size_t g = 0; g < groups.size(); ++g) {
        if (run.done[g]) continue;
        run.sweeps[g].push_back(
            Measure(*run.engine, groups[g].queries, groups[g].truth, config.k, ef, config.threads));
        run.done[g] = run.sweeps[g].back().recall >= 0.995;
      }
    }
  }
  for (Run& run : runs) {
    for (size_t g = 0; g < groups.size() && run.engine->has_default_ef(); ++g) {
      run.defaults.push_back(Measure(*run.engine, groups[g].queries, groups[g].truth, config.k,
                                     /*ef=*/0, config.threads));
    }
  }
  std::printf("\n%-20s %10s %8s | %s\n", "engine", "build v/s", "RSS MiB",
              "recall target: QPS  p50us  p99us  (ef)");
  for (const Run& run : runs) {
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::string name =
          std::string(run.engine->name()) + (groups[g].name.empty() ? "" : "/" + groups[g].name);
      std::printf("%-20s %10.0f %8.0f |", name.c_str(), run.build_per_second, run.rss_mib);
      for (double target : {0.90, 0.95, 0.99}) {
        const Point p = AtRecall(run.sweeps[g], target);
        std::printf("  %.2f: %7.0f %6.0f %6.0f (%3zu)", target, p.qps, p.p50_us, p.p99_us, p.ef);
      }
      std::printf("\n  sweep ef:recall:qps");
      for (const Point& p : run.sweeps[g]) std::printf(" %zu:%.3f:%.0f", p.ef, p.recall, p.qps);
      if (g < run.defaults.size()) {
        std::printf("\n  default ef: recall %.3f, QPS %.0f, p50 %.0f us, p99 %.0f us",
                    run.defaults[g].recall, run.defaults[g].qps, run.defaults[g].p50_us,
                    run.defaults[g].p99_us);
      }
      std::printf("\n");
    }
  }
  std::printf("\nbottom level (mean out-degree, rows no row links to):");
  for (const Run& run : runs) {
    const GraphShape shape = BottomShape(*run.engine, config.rows);
    if (shape.mean_degree > 0) {
      std::printf(" %s %.2f %zu", run.engine->name(), shape.mean_degree, shape.unlinked);
    }
  }
  std::printf("\nbuild vectors per CPU second (all threads):");
  for (const Run& run : runs) {
    std::printf(" %s %.0f", run.engine->name(), run.build_per_cpu_second);
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace arbalest

int main(int argc, char** argv) { return arbalest::Main(argc, argv); }
