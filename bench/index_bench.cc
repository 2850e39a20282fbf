// Side-by-side HNSW benchmark: this index vs hnswlib vs FAISS IndexHNSWFlat on the same data
// (seeded clustered vectors, or .fbin files such as bench/data/fashion_mnist.py writes), the
// same thread count and the same M / ef_construction.
// Reports build throughput, QPS and p50/p99 latency at recall@10 0.90/0.95/0.99 (linear
// interpolation over an ef sweep), and RSS growth while building. Prints its own command line.
//
// Our index runs on full vectors, SQ8 codes and PQ codes (both re-ranked), and on full vectors
// with float32 construction distances (arb-f32build: no float16 construction copies); arb-rowwise
// links rows one by one instead of in sub-batches, arb-4k allocates without huge pages.
// --element stores our rows as float16, bfloat16, int8 or uint8: the data is first rounded to
// that type's values (integers: scaled by --int-scale, uint8 shifted by 128), and every engine
// gets the same rounded values (hnswlib and FAISS as float32).
//
//   index_bench [--rows N] [--dim D] [--queries Q] [--threads T] [--m M] [--efc EF]
//               [--pq-m BYTES] [--base BASE.fbin --query-file QUERIES.fbin]
//               [--element float32|float16|bfloat16|int8|uint8] [--int-scale S]
//               [--engines arbalest,arb-f32build,arb-rowwise,arb-4k,arb-sq8,arb-pq,hnswlib,faiss]
#include <faiss/IndexHNSW.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../tests/index/clustered_data.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
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
  // Comma-separated engine names to run (all when empty), e.g. "arbalest,hnswlib" for a
  // quicker side-by-side build comparison.
  std::string engines;
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
                 bool float16_build = true, bool batch_link = true, bool huge_pages = true)
      : index_(HnswIndex::Make(config.dim, Metric::kL2, config.element,
                               {.m = config.m,
                                .ef_construction = config.efc,
                                .quantization = quantization,
                                .pq_m = config.pq_m,
                                .float16_build = float16_build,
                                .batch_link = batch_link})
                   .ValueOrDie()),
        name_(std::move(name)),
        huge_pages_(huge_pages) {}
  const char* name() const override { return name_.c_str(); }
  // AddBatch, as the store's index workers add rows: rows numbered in data order (concurrent
  // Adds would number them in arrival order, and recall would be scored against the wrong rows),
  // linked from `threads` threads.
  void Build(const testing::Dataset& data, int threads) override {
    RecordArena::SetHugePages(huge_pages_);  // the index allocates its arenas as it grows
    if (!index_->AddBatch(data.values, threads).ok()) std::abort();
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
};

class HnswlibEngine final : public Engine {
 public:
  HnswlibEngine(const Config& config)
      : space_(config.dim),
        index_(&space_, config.rows, config.m, config.efc, /*random_seed=*/42) {}
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
  hnswlib::L2Space space_;
  hnswlib::HierarchicalNSW<float> index_;
};

class FaissEngine final : public Engine {
 public:
  FaissEngine(const Config& config) : index_(static_cast<int>(config.dim), config.m) {
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
    else if (flag == "--rows")
      c.rows = value;
    else if (flag == "--dim")
      c.dim = value;
    else if (flag == "--queries")
      c.queries = value;
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
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return c;
}

int Main(int argc, char** argv) {
  Config config = ParseArgs(argc, argv);
  if (config.base.empty() != config.query_file.empty()) {
    std::fprintf(stderr, "--base and --query-file go together\n");
    return 2;
  }
  const bool from_files = !config.base.empty();
  const testing::Dataset data =
      RoundTo(config.element, config.int_scale,
              from_files ? ReadFbin(config.base, config.rows)
                         : testing::ClusteredData(config.rows, config.dim, 1));
  const testing::Dataset queries =
      RoundTo(config.element, config.int_scale,
              from_files ? ReadFbin(config.query_file, config.queries)
                         : testing::ClusteredData(config.queries, config.dim, 2));
  if (from_files && queries.dim != data.dim) {
    std::fprintf(stderr, "%s has width %zu, %s %zu\n", config.base.c_str(), data.dim,
                 config.query_file.c_str(), queries.dim);
    return 2;
  }
  config.rows = data.rows();
  config.dim = data.dim;
  config.queries = queries.rows();
  std::printf("command:");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf(
      "\ndata: %zu x %zu %s %s, %zu queries, k=%zu, threads=%d, M=%u, ef_construction=%u, "
      "kernels=%s\n",
      config.rows, config.dim, std::string(simd::ElementTypeName(config.element)).c_str(),
      from_files ? config.base.c_str() : "clustered (64 Gaussian clusters, intrinsic dim 32)",
      config.queries, config.k, config.threads, config.m, config.efc, simd::DispatchedTargetName());

  std::vector<std::vector<int64_t>> truth(config.queries);
  {
    FlatIndex flat(config.dim, Metric::kL2);
    if (!testing::AddAll(flat, data).ok()) return 1;
    ParallelFor(config.queries, config.threads, [&](size_t q) {
      std::vector<Neighbor> got;
      if (!flat.Search(queries.row(q), {.k = config.k}, &got).ok()) std::abort();
      for (const Neighbor& n : got) truth[q].push_back(n.row);
    });
  }

  const std::vector<size_t> efs = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  const std::vector<std::pair<std::string, std::function<std::unique_ptr<Engine>()>>> makers = {
      {"arbalest",
       [&] { return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arbalest"); }},
      {"arb-f32build",
       [&] {
         return std::make_unique<ArbalestEngine>(config, Quantization::kNone, "arb-f32build",
                                                 /*float16_build=*/false);
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
    std::vector<Point> sweep;
    bool done = false;
  };
  std::vector<Run> runs;
  // SQ8/PQ codes and float16 construction copies exist over float32 rows only.
  const bool float32 = config.element == simd::ElementType::kFloat32;
  for (const auto& [name, make] : makers) {
    if (!Selected(config.engines, name)) continue;
    if (!float32 && (name == "arb-f32build" || name == "arb-sq8" || name == "arb-pq")) {
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
    runs.push_back(std::move(run));
  }
  // The ef sweep interleaves the engines, so load from elsewhere hits them alike.
  for (size_t ef : efs) {
    for (Run& run : runs) {
      if (run.done) continue;
      run.sweep.push_back(
          Measure(*run.engine, queries, truth, config.k, std::max(ef, config.k), config.threads));
      run.done = run.sweep.back().recall >= 0.995;
    }
  }
  std::printf("\n%-12s %10s %8s | %s\n", "engine", "build v/s", "RSS MiB",
              "recall target: QPS  p50us  p99us  (ef)");
  for (const Run& run : runs) {
    std::printf("%-12s %10.0f %8.0f |", run.engine->name(), run.build_per_second, run.rss_mib);
    for (double target : {0.90, 0.95, 0.99}) {
      const Point p = AtRecall(run.sweep, target);
      std::printf("  %.2f: %7.0f %6.0f %6.0f (%3zu)", target, p.qps, p.p50_us, p.p99_us, p.ef);
    }
    std::printf("\n  sweep ef:recall:qps");
    for (const Point& p : run.sweep) std::printf(" %zu:%.3f:%.0f", p.ef, p.recall, p.qps);
    std::printf("\n");
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
