// Benchmarks only (--log-sink): the least work a server that logs its puts can do. Each batch's
// buffers and offsets are checked as a client's batch's are (CheckClientBatch), it is encoded as a
// WAL append record, written to a write-ahead log of its own (under `<data dir>/bench-log-sink/`,
// which recovery never reads) under the server's fsync policy, and acked; nothing is stored,
// indexed or searchable.
//
// What it measures: the bound that the transport plus one checksummed copy into the log puts on
// ingestion, in the same run as the null-sink ceiling (no copy) and the real server (bench/ingest
// /ingest_matrix.py's `log-sink` mode). The real server's put path does this and more, so it
// cannot ack faster than this mode on the same machine.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <memory>
#include <string>

#include "flight/put_sink.h"
#include "persist/wal_writer.h"

namespace arbalest {

// Thread-safe: one per server, shared by every put stream.
class LogSink {
 public:
  // Opens a new log in `options.dir` (cleared first: what an earlier run left is not kept).
  static arrow::Result<std::shared_ptr<LogSink>> Open(WalOptions options);

  // A put stream into `dataset` whose batches are logged and discarded.
  std::unique_ptr<PutSink> OpenStream(std::string dataset);

 private:
  explicit LogSink(std::unique_ptr<WalWriter> wal) : wal_(std::move(wal)) {}
  class Stream;

  std::unique_ptr<WalWriter> wal_;
  std::atomic<int64_t> logged_rows_{0};  // the record's row number field; no replay checks it
};

}  // namespace arbalest
