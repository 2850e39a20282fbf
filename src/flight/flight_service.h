// The Arrow Flight RPCs of protocol.md over one VectorStore. Both gRPC ports (data and meta)
// run an instance of this class over the same store: every RPC is served on both.
#pragma once

#include <arrow/flight/server.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flight/catalog_entry.h"
#include "flight/cluster_hooks.h"
#include "flight/log_sink.h"
#include "flight/stream_limit.h"
#include "metrics/server_metrics.h"
#include "store/vector_store.h"

namespace arbalest {

struct ServiceOptions {
  // Benchmarks only: DoPut decodes and acks every batch but stores nothing, which measures the
  // Flight transport's ceiling on this machine (--null-sink).
  bool null_sink = false;
  // Benchmarks only: DoPut logs every batch in a log of its own and stores nothing, which
  // measures what the transport plus the log's copy allow (--log-sink, flight/log_sink.h).
  std::shared_ptr<LogSink> log_sink;
  // Where RPC counts and latencies and search latencies go; none when null.
  std::shared_ptr<ServerMetrics> metrics;
  // The largest gRPC message received (--max-message-size); 0: no limit.
  int64_t max_message_bytes = 0;
  // The cap on open DoPut/DoGet/DoExchange calls, shared by both ports; none when null.
  std::shared_ptr<StreamLimit> stream_limit;
  // The cluster this node belongs to (--cluster-etcd): searches fan out to its members and
  // `cluster-status` describes it. Null: a single node, searches answered from this store.
  std::shared_ptr<ClusterHooks> cluster;
};

// Thread-safe: gRPC calls the methods from many threads at once.
class FlightService : public arrow::flight::FlightServerBase {
 public:
  FlightService(std::shared_ptr<VectorStore> store, ServiceOptions options)
      : store_(std::move(store)), options_(options) {
    AttachToCluster();
  }

  // Streams batches into the dataset named by the descriptor's path, acking each batch with
  // PutResult JSON {"status":"acked","rows":N,"seq":S}.
  arrow::Status DoPut(const arrow::flight::ServerCallContext& context,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter> writer) override;

  // Scans a dataset as the ticket asks (see ticket.h).
  arrow::Status DoGet(const arrow::flight::ServerCallContext& context,
                      const arrow::flight::Ticket& request,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;

  // Descriptor CMD "VectorSearch": batches of queries in, one result batch per query out.
  // Descriptor PATH ["ingest", dataset]: DoPut over a bidirectional stream (see exchange.h).
  arrow::Status DoExchange(const arrow::flight::ServerCallContext& context,
                           std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                           std::unique_ptr<arrow::flight::FlightMessageWriter> writer) override;

  arrow::Status ListFlights(const arrow::flight::ServerCallContext& context,
                            const arrow::flight::Criteria* criteria,
                            std::unique_ptr<arrow::flight::FlightListing>* listings) override;

  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                              const arrow::flight::FlightDescriptor& request,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;

  arrow::Status GetSchema(const arrow::flight::ServerCallContext& context,
                          const arrow::flight::FlightDescriptor& request,
                          std::unique_ptr<arrow::flight::SchemaResult>* schema) override;

  arrow::Status ListActions(const arrow::flight::ServerCallContext& context,
                            std::vector<arrow::flight::ActionType>* actions) override;

  arrow::Status DoAction(const arrow::flight::ServerCallContext& context,
                         const arrow::flight::Action& action,
                         std::unique_ptr<arrow::flight::ResultStream>* result) override;

 private:
  // Gives a cluster node this node's store (shard catch-up writes into it).
  void AttachToCluster();
  // The datasets whose name holds `name_part`: this node's, or on a cluster node (unless
  // local_only) the cluster's logical datasets (ClusterHooks::Catalog).
  arrow::Result<std::vector<CatalogEntry>> Catalog(std::string_view name_part,
                                                   const FanOutOptions& fan_out) const;
  // The entry of dataset `name` (as Catalog); KeyError as the store's when none holds it.
  arrow::Result<CatalogEntry> CatalogEntryNamed(const std::string& name) const;

  std::shared_ptr<VectorStore> store_;
  const ServiceOptions options_;
};

}  // namespace arbalest
