// ingest_bench: N concurrent DoPut streams of vector batches against a running server.
// Reports MB/s of vector bytes and of all Arrow bytes, rows/s, and per-batch put latency
// (write to ack). Run it against a normal server and against `arbalest serve --null-sink` in
// the same session: the ratio is our share of the transport's ceiling (bench/ingest/run.sh).
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/flight/client.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/key_value_metadata.h>
#include <arrow/util/logging.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 3000;
  int streams = 4;
  int batches = 50;  // per stream
  int rows = 1000;   // per batch
  int dim = 384;
  std::string type = "float32";
  bool metadata = false;
  int text_words = 0;                       // words in a utf8 `text` column; 0: no such column
  std::optional<std::string> text_columns;  // schema metadata longbow.text.columns, if set
  std::string dataset = "ingest_bench";
};

std::shared_ptr<arrow::DataType> ElementType(const std::string& name) {
  if (name == "int8") return arrow::int8();
  if (name == "float16") return arrow::float16();
  return arrow::float32();
}

// One batch of random vectors (and optional metadata); ids are rewritten per put.
std::shared_ptr<arrow::RecordBatch> MakeBatch(const Options& options, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  arrow::FloatBuilder values;
  const int64_t count = static_cast<int64_t>(options.rows) * options.dim;
  ARROW_CHECK_OK(values.Reserve(count));
  for (int64_t i = 0; i < count; ++i) values.UnsafeAppend(normal(rng));
  auto floats = values.Finish().ValueOrDie();
  auto elements = arrow::compute::Cast(*floats, ElementType(options.type),
                                       arrow::compute::CastOptions::Unsafe())
                      .ValueOrDie();
  auto vectors = arrow::FixedSizeListArray::FromArrays(elements, options.dim).ValueOrDie();
  arrow::FieldVector fields{arrow::field("id", arrow::int64()),
                            arrow::field("vector", vectors->type())};
  arrow::ArrayVector columns{arrow::MakeArrayOfNull(arrow::int64(), options.rows).ValueOrDie(),
                             vectors};
  if (options.metadata) {
    arrow::StringBuilder tags;
    arrow::Int64Builder timestamps;
    for (int i = 0; i < options.rows; ++i) {
      ARROW_CHECK_OK(tags.Append("category-" + std::to_string(rng() % 100)));
      ARROW_CHECK_OK(timestamps.Append(1'700'000'000'000 + static_cast<int64_t>(rng() % 1000000)));
    }
    fields.push_back(arrow::field("tag", arrow::utf8()));
    fields.push_back(arrow::field("ts", arrow::int64()));
    columns.push_back(tags.Finish().ValueOrDie());
    columns.push_back(timestamps.Finish().ValueOrDie());
  }
  if (options.text_words > 0) {
    // Short sentences over a 5000-word vocabulary, like titles or captions.
    arrow::StringBuilder texts;
    for (int i = 0; i < options.rows; ++i) {
      std::string text;
      for (int w = 0; w < options.text_words; ++w) {
        text += (w ? " word" : "word") + std::to_string(rng() % 5000);
      }
      ARROW_CHECK_OK(texts.Append(text));
    }
    fields.push_back(arrow::field("text", arrow::utf8()));
    columns.push_back(texts.Finish().ValueOrDie());
  }
  std::shared_ptr<arrow::KeyValueMetadata> metadata;
  if (options.text_columns) {
    metadata = arrow::key_value_metadata({"longbow.text.columns"}, {*options.text_columns});
  }
  return arrow::RecordBatch::Make(arrow::schema(fields, metadata), options.rows, columns);
}

std::shared_ptr<arrow::RecordBatch> WithIds(const std::shared_ptr<arrow::RecordBatch>& batch,
                                            int64_t first_id) {
  std::vector<int64_t> ids(batch->num_rows());
  std::iota(ids.begin(), ids.end(), first_id);
  arrow::Int64Builder builder;
  ARROW_CHECK_OK(builder.AppendValues(ids));
  return batch->SetColumn(0, batch->schema()->field(0), builder.Finish().ValueOrDie()).ValueOrDie();
}

struct StreamResult {
  std::vector<double> latencies_ms;
  arrow::Status status;
};

// Writes the stream's batches back to back while a second thread reads the acks, as a
// throughput-minded client does; latency is from the start of a batch's write to its ack.
void RunStream(const Options& options, int stream, const std::shared_ptr<arrow::RecordBatch>& base,
               StreamResult* result) {
  auto fail = [&](const arrow::Status& status) { result->status = status; };
  auto location = fl::Location::ForGrpcTcp(options.host, options.port).ValueOrDie();
  auto client = fl::FlightClient::Connect(location);
  if (!client.ok()) return fail(client.status());
  auto put = (*client)->DoPut(fl::FlightDescriptor::Path({options.dataset}), base->schema());
  if (!put.ok()) return fail(put.status());
  std::vector<Clock::time_point> written(options.batches);
  std::atomic<int> writes_started{0};
  arrow::Status ack_status;
  std::thread acks([&] {
    for (int b = 0; b < options.batches; ++b) {
      std::shared_ptr<arrow::Buffer> ack;
      ack_status = put->reader->ReadMetadata(&ack);
      if (!ack_status.ok() || !ack) {
        if (ack_status.ok()) ack_status = arrow::Status::IOError("stream ended without an ack");
        return;
      }
      while (writes_started.load() <= b) std::this_thread::yield();
      result->latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - written[b]).count());
    }
  });
  const int64_t first = static_cast<int64_t>(stream) * options.batches * options.rows;
  arrow::Status write_status;
  for (int b = 0; b < options.batches && write_status.ok(); ++b) {
    auto batch = WithIds(base, first + static_cast<int64_t>(b) * options.rows);
    written[b] = Clock::now();
    writes_started.store(b + 1);
    write_status = put->writer->WriteRecordBatch(*batch);
  }
  if (write_status.ok()) write_status = put->writer->DoneWriting();
  acks.join();
  arrow::Status close_status = put->writer->Close();
  result->status = !write_status.ok() ? write_status : !ack_status.ok() ? ack_status : close_status;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Arbalest ingestion benchmark: concurrent DoPut streams"};
  app.add_option("--host", options.host);
  app.add_option("--port", options.port);
  app.add_option("--streams", options.streams, "Concurrent DoPut streams");
  app.add_option("--batches", options.batches, "Batches per stream");
  app.add_option("--rows", options.rows, "Rows per batch");
  app.add_option("--dim", options.dim, "Vector width");
  app.add_option("--type", options.type)->check(CLI::IsMember({"float32", "float16", "int8"}));
  app.add_flag("--metadata", options.metadata, "Add utf8 and int64 metadata columns");
  app.add_option("--text-words", options.text_words, "Add a utf8 `text` column of N words a row");
  app.add_option("--text-columns", options.text_columns,
                 "Schema metadata longbow.text.columns (\"\" indexes no text)");
  app.add_option("--dataset", options.dataset);
  CLI11_PARSE(app, argc, argv);

  auto base = MakeBatch(options, 42);
  const double vector_bytes_per_batch =
      static_cast<double>(options.rows) * options.dim * ElementType(options.type)->byte_width();
  const double arrow_bytes_per_batch = static_cast<double>(arrow::util::TotalBufferSize(*base));
  std::vector<StreamResult> results(options.streams);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int s = 0; s < options.streams; ++s) {
    threads.emplace_back(RunStream, std::cref(options), s, base, &results[s]);
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> latencies;
  for (const auto& result : results) {
    if (!result.status.ok()) {
      std::fprintf(stderr, "stream failed: %s\n", result.status.ToString().c_str());
      return 1;
    }
    latencies.insert(latencies.end(), result.latencies_ms.begin(), result.latencies_ms.end());
  }
  const double batches = static_cast<double>(latencies.size());
  std::printf(
      "{\"streams\":%d,\"batch_rows\":%d,\"dim\":%d,\"type\":\"%s\",\"metadata\":%s,"
      "\"text_words\":%d,\"text_columns\":\"%s\","
      "\"seconds\":%.3f,\"rows_per_s\":%.0f,\"vector_MBps\":%.1f,\"arrow_MBps\":%.1f,"
      "\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
      options.streams, options.rows, options.dim, options.type.c_str(),
      options.metadata ? "true" : "false", options.text_words,
      options.text_columns.value_or("(default)").c_str(), seconds, batches * options.rows / seconds,
      batches * vector_bytes_per_batch / seconds / 1e6,
      batches * arrow_bytes_per_batch / seconds / 1e6, Percentile(latencies, 0.5),
      Percentile(latencies, 0.99));
  return 0;
}
