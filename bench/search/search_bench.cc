// search_bench: what the service layer costs a k-NN search. One process loads clustered
// 384-d vectors into a real store, lets its index workers build the HNSW graph, starts the
// real Flight servers on a free loopback port, then measures the same queries at four depths:
//
//   index     HnswIndex::Search on the dataset's graph (no store, no Arrow)
//   store     SearchDataset: snapshot, unindexed tail, tombstones, the Arrow result batch
//   doget     a Flight client per thread: DoGet with a JSON search ticket, result read back
//   exchange  a Flight client per thread: one DoExchange "VectorSearch" stream, one query
//             batch written and its result read per query
//
// each with 1 and 4 client threads (--clients), reporting QPS, p50/p99 latency, recall@k
// against exact search, and each depth's QPS as a ratio of the index's. The depths take turns
// (--rounds), so that noise from elsewhere on the machine does not favour one of them. Clients and
// server share the machine's cores, as they do when a client runs beside the server.
#include <arrow/api.h>
#include <arrow/flight/client.h>
#include <arrow/util/key_value_metadata.h>
#include <arrow/util/logging.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../tests/index/clustered_data.h"
#include "common/json_util.h"
#include "flight/server.h"
#include "index/flat_index.h"
#include "store/search.h"
#include "store/vector_store.h"

namespace {

namespace fl = arrow::flight;
using arbalest::Json;
using Clock = std::chrono::steady_clock;

struct Options {
  size_t rows = 100000;
  size_t dim = 384;
  size_t queries = 1000;  // per client thread and depth
  size_t recall_queries = 200;
  int k = 10;
  int ef = 64;
  int m = 16;
  int ef_construction = 100;
  int index_threads = 2;
  size_t batch_rows = 10000;  // rows per put
  int rounds = 5;             // each depth measured this many times, taking turns
  std::vector<int> clients = {1, 4};
  std::string depths = "index,store,doget,exchange";
  int64_t segment_max_bytes = 0;  // 0: the default (no sealing: one segment)
};

const char* kDataset = "search_bench";

std::shared_ptr<arrow::RecordBatch> MakeBatch(const arbalest::testing::Dataset& data, size_t begin,
                                              size_t end, const Options& options) {
  const int64_t rows = static_cast<int64_t>(end - begin);
  arrow::Int64Builder ids;
  ARROW_CHECK_OK(ids.Reserve(rows));
  for (size_t r = begin; r < end; ++r) ids.UnsafeAppend(static_cast<int64_t>(r));
  arrow::FloatBuilder values;
  ARROW_CHECK_OK(values.AppendValues(data.values.data() + begin * data.dim, rows * data.dim));
  auto vectors = arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(),
                                                       static_cast<int32_t>(data.dim))
                     .ValueOrDie();
  std::vector<std::string> keys = {"longbow.index.m", "longbow.index.ef_construction"};
  std::vector<std::string> settings = {std::to_string(options.m),
                                       std::to_string(options.ef_construction)};
  if (options.segment_max_bytes > 0) {
    keys.push_back("longbow.index.segment_max_bytes");
    settings.push_back(std::to_string(options.segment_max_bytes));
  }
  auto metadata = arrow::key_value_metadata(keys, settings);
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("vector", vectors->type())}, metadata);
  return arrow::RecordBatch::Make(schema, rows, {ids.Finish().ValueOrDie(), vectors});
}

// One client thread's loop: `search(q)` answers query q and returns the ids found.
using SearchFn = std::function<arrow::Result<std::vector<int64_t>>(size_t)>;
// Makes a client thread's search function (a connection of its own), once per thread.
using ClientFactory = std::function<arrow::Result<SearchFn>()>;

// What one depth's runs added up to.
struct Tally {
  double seconds = 0;
  std::vector<double> latencies_ms;
  size_t found = 0, expected = 0;  // of the exact top-k ids

  void Add(const Tally& other) {
    seconds += other.seconds;
    latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
    found += other.found;
    expected += other.expected;
  }
  double qps() const { return static_cast<double>(latencies_ms.size()) / seconds; }
  double recall() const { return static_cast<double>(found) / static_cast<double>(expected); }
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// Runs `clients` threads of `queries` queries each (thread t starts at query t * 7 so threads
// do not ask the same query at once), after a warm-up pass.
Tally Measure(const ClientFactory& factory, int clients, size_t queries,
              const std::vector<std::vector<int64_t>>& truth) {
  std::vector<SearchFn> fns;
  for (int t = 0; t < clients; ++t) fns.push_back(factory().ValueOrDie());
  const size_t pool = truth.size();
  for (size_t q = 0; q < std::min<size_t>(20, pool); ++q) ARROW_CHECK_OK(fns[0](q).status());
  std::vector<Tally> per_thread(clients);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Tally& tally = per_thread[t];
      for (size_t i = 0; i < queries; ++i) {
        const size_t q = (i + static_cast<size_t>(t) * 7) % pool;
        const auto begin = Clock::now();
        auto ids = fns[t](q).ValueOrDie();
        tally.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
        for (int64_t want : truth[q]) {
          tally.found += std::find(ids.begin(), ids.end(), want) != ids.end();
        }
        tally.expected += truth[q].size();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  Tally total;
  for (const Tally& tally : per_thread) total.Add(tally);
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return total;
}

std::vector<int64_t> IdsOf(const arrow::Table& table) {
  std::vector<int64_t> ids;
  for (const auto& chunk : table.GetColumnByName("id")->chunks()) {
    const auto& array = static_cast<const arrow::Int64Array&>(*chunk);
    for (int64_t i = 0; i < array.length(); ++i) ids.push_back(array.Value(i));
  }
  return ids;
}

std::string SearchTicket(std::span<const float> query, const Options& options) {
  Json vector = Json::array();
  for (float v : query) vector.push_back(v);
  return Json{{"search",
               {{"dataset", kDataset},
                {"vector", std::move(vector)},
                {"k", options.k},
                {"ef", options.ef},
                {"columns", Json::array()}}}}
      .dump();
}

// A one-row query batch for the exchange.
std::shared_ptr<arrow::RecordBatch> QueryBatch(std::span<const float> query, const Options& o) {
  arrow::FloatBuilder values;
  ARROW_CHECK_OK(values.AppendValues(query.data(), static_cast<int64_t>(query.size())));
  auto vector = arrow::FixedSizeListArray::FromArrays(values.Finish().ValueOrDie(),
                                                      static_cast<int32_t>(query.size()))
                    .ValueOrDie();
  arrow::StringBuilder dataset;
  ARROW_CHECK_OK(dataset.Append(kDataset));
  arrow::Int32Builder k, ef;
  ARROW_CHECK_OK(k.Append(o.k));
  ARROW_CHECK_OK(ef.Append(o.ef));
  auto schema = arrow::schema(
      {arrow::field("dataset", arrow::utf8()), arrow::field("query_vector", vector->type()),
       arrow::field("k", arrow::int32()), arrow::field("ef", arrow::int32())});
  return arrow::RecordBatch::Make(
      schema, 1,
      {dataset.Finish().ValueOrDie(), vector, k.Finish().ValueOrDie(), ef.Finish().ValueOrDie()});
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Arbalest search benchmark: the service layer's cost, index vs store vs Flight"};
  app.add_option("--rows", options.rows);
  app.add_option("--dim", options.dim);
  app.add_option("--queries", options.queries, "Queries per client thread and depth, all rounds");
  app.add_option("--recall-queries", options.recall_queries, "Distinct queries (exact truth)");
  app.add_option("--k", options.k);
  app.add_option("--ef", options.ef);
  app.add_option("--m", options.m);
  app.add_option("--efc", options.ef_construction);
  app.add_option("--index-threads", options.index_threads);
  app.add_option("--batch-rows", options.batch_rows, "Rows per put (stored batch)");
  app.add_option("--rounds", options.rounds, "Turns each depth takes (queries split among them)");
  app.add_option("--clients", options.clients, "Client thread counts")->delimiter(',');
  app.add_option("--depths", options.depths, "Comma-separated: index,store,doget,exchange");
  app.add_option("--segment-max-bytes", options.segment_max_bytes,
                 "Segment size (several segments: the index depth searches the first one only)");
  CLI11_PARSE(app, argc, argv);
  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];
  std::printf("# %s\n", command.str().c_str());

  const auto data = arbalest::testing::ClusteredData(options.rows, options.dim, /*seed=*/1);
  const auto queries = arbalest::testing::ClusteredData(options.recall_queries, options.dim,
                                                        /*seed=*/2);

  // Exact neighbours, for recall.
  arbalest::FlatIndex flat(options.dim, arbalest::Metric::kL2);
  for (size_t r = 0; r < data.rows(); ++r) ARROW_CHECK_OK(flat.Add(data.row(r)).status());
  std::vector<std::vector<int64_t>> truth(queries.rows());
  {
    std::vector<std::thread> threads;
    const int n = std::max(1, options.index_threads);
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        std::vector<arbalest::Neighbor> out;
        for (size_t q = static_cast<size_t>(t); q < queries.rows(); q += static_cast<size_t>(n)) {
          ARROW_CHECK_OK(flat.Search(queries.row(q), {.k = static_cast<size_t>(options.k)}, &out));
          for (const auto& hit : out) truth[q].push_back(static_cast<int64_t>(hit.row));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }

  // Load and index.
  auto store = std::make_shared<arbalest::VectorStore>(0);
  store->StartIndexing(options.index_threads);
  const auto load_start = Clock::now();
  std::shared_ptr<arbalest::Dataset> dataset;
  for (size_t begin = 0; begin < data.rows(); begin += options.batch_rows) {
    const size_t end = std::min(data.rows(), begin + options.batch_rows);
    ARROW_CHECK_OK(store->Put(kDataset, MakeBatch(data, begin, end, options), &dataset).status());
  }
  while (dataset->index().indexed_rows() < static_cast<int64_t>(data.rows())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double build_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  std::printf(
      "# %zu x %zu float32 clustered in %zu-row puts, M=%d efc=%d: indexed in %.1f s (%.0f "
      "rows/s)\n",
      data.rows(), data.dim, options.batch_rows, options.m, options.ef_construction, build_s,
      static_cast<double>(data.rows()) / build_s);

  auto servers = arbalest::FlightServers::Start({"127.0.0.1", 0, 0}, store).ValueOrDie();
  const auto location = fl::Location::ForGrpcTcp("127.0.0.1", servers->data_port()).ValueOrDie();

  std::vector<std::pair<std::string, ClientFactory>> depths;
  const arbalest::SearchOptions search_options{.k = static_cast<size_t>(options.k),
                                               .ef = static_cast<size_t>(options.ef)};
  depths.emplace_back("index", [&]() -> arrow::Result<SearchFn> {
    auto out = std::make_shared<std::vector<arbalest::Neighbor>>();
    return SearchFn([&, out](size_t q) -> arrow::Result<std::vector<int64_t>> {
      ARROW_RETURN_NOT_OK(dataset->index().Graphs().front().graph->Search(
          queries.row(q), search_options, out.get()));
      std::vector<int64_t> ids;
      for (const auto& hit : *out) ids.push_back(static_cast<int64_t>(hit.row));
      return ids;
    });
  });
  depths.emplace_back("store", [&]() -> arrow::Result<SearchFn> {
    return SearchFn([&](size_t q) -> arrow::Result<std::vector<int64_t>> {
      arbalest::SearchRequest request;
      request.query.assign(queries.row(q).begin(), queries.row(q).end());
      request.k = options.k;
      request.ef = options.ef;
      request.columns.emplace();
      ARROW_ASSIGN_OR_RAISE(auto batch, arbalest::SearchDataset(*dataset, request));
      ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches({batch}));
      return IdsOf(*table);
    });
  });
  depths.emplace_back("doget", [&]() -> arrow::Result<SearchFn> {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<fl::FlightClient> client,
                          fl::FlightClient::Connect(location));
    return SearchFn([&, client](size_t q) -> arrow::Result<std::vector<int64_t>> {
      ARROW_ASSIGN_OR_RAISE(auto reader,
                            client->DoGet(fl::Ticket{SearchTicket(queries.row(q), options)}));
      ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
      return IdsOf(*table);
    });
  });
  depths.emplace_back("exchange", [&]() -> arrow::Result<SearchFn> {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<fl::FlightClient> client,
                          fl::FlightClient::Connect(location));
    ARROW_ASSIGN_OR_RAISE(auto call,
                          client->DoExchange(fl::FlightDescriptor::Command("VectorSearch")));
    std::shared_ptr<fl::FlightStreamWriter> writer = std::move(call.writer);
    std::shared_ptr<fl::FlightStreamReader> reader = std::move(call.reader);
    ARROW_RETURN_NOT_OK(writer->Begin(QueryBatch(queries.row(0), options)->schema()));
    return SearchFn([&, client, writer, reader](size_t q) -> arrow::Result<std::vector<int64_t>> {
      ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*QueryBatch(queries.row(q), options)));
      ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
      if (!chunk.data) return arrow::Status::IOError("exchange ended early");
      ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches({chunk.data}));
      return IdsOf(*table);
    });
  });

  std::printf("%-9s %7s %10s %8s %8s %7s %9s\n", "depth", "clients", "qps", "p50_ms", "p99_ms",
              "recall", "vs_index");
  // Depths take turns, round after round, so that load from elsewhere on the machine falls on
  // all of them alike.
  for (int clients : options.clients) {
    std::vector<Tally> tallies(depths.size());
    for (int round = 0; round < options.rounds; ++round) {
      for (size_t d = 0; d < depths.size(); ++d) {
        if (options.depths.find(depths[d].first) == std::string::npos) continue;
        tallies[d].Add(Measure(depths[d].second, clients,
                               std::max<size_t>(1, options.queries / options.rounds), truth));
      }
    }
    for (size_t d = 0; d < depths.size(); ++d) {
      const Tally& tally = tallies[d];
      if (tally.latencies_ms.empty()) continue;
      const double index_qps = tallies[0].latencies_ms.empty() ? 0 : tallies[0].qps();
      std::printf(
          "%-9s %7d %10.0f %8.3f %8.3f %7.3f %9s\n", depths[d].first.c_str(), clients, tally.qps(),
          Percentile(tally.latencies_ms, 0.5), Percentile(tally.latencies_ms, 0.99), tally.recall(),
          index_qps > 0 ? (std::to_string(tally.qps() / index_qps).substr(0, 5) + "x").c_str()
                        : "-");
    }
    std::fflush(stdout);
  }
  ARROW_CHECK_OK(servers->Shutdown(std::chrono::seconds(5)));
  store->StopIndexing();
  return 0;
}
