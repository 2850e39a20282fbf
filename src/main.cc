// `arbalest serve`: the command line, and the life of a node from start to graceful shutdown.
#include <arrow/config.h>
#include <arrow/memory_pool.h>
#include <hwy/targets.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "cluster/cluster_flags.h"
#include "common/byte_size.h"
#include "common/data_dir.h"
#include "common/duration.h"
#include "common/fd_limits.h"
#include "common/fd_reserve.h"
#include "common/logging.h"
#include "common/memory_pool_choice.h"
#include "flight/server.h"
#include "metrics/metrics_server.h"
#include "metrics/process_collector.h"
#include "metrics/server_metrics.h"
#include "metrics/status_api.h"
#include "metrics/store_collector.h"
#include "serve_security.h"
#include "store/database.h"
#include "store/dataset_layout.h"
#include "store/free_memory.h"
#include "store/index_catch_up.h"
#include "store/recovery.h"
#include "store/segment.h"

namespace arbalest {
namespace {

constexpr int kUsageError = 2;

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 3000;
  int meta_port = 3001;
  int metrics_port = 9090;
  bool metrics_port_fallback = false;
  int metrics_datasets = 100;
  std::string data_dir = "./data";
  std::string log_format = "text";
  std::string log_level = "info";
  std::string max_memory = "0";
  int64_t max_memory_bytes = 0;
  int max_dimension = 16384;
  std::string max_message_size = "256MiB";
  int shutdown_grace_seconds = 5;
  std::string fsync = "always";
  int fsync_interval_ms = 10;
  std::string wal_segment_size = "64MiB";
  bool wal_skip_corrupt = false;
  std::string snapshot_interval = "10m";
  std::string snapshot_wal_bytes = "1GiB";
  bool null_sink = false;
  bool log_sink = false;
  bool wal_direct_io = true;
  bool keep_vector_copies = false;
  double compact_deleted_fraction = 0.2;
  int64_t compact_min_rows = 1000;
  uint64_t compact_rekey_keys = Dataset::kRekeyGoneKeys;
  std::string segment_max_bytes = "2GiB";  // 0: no sealing
  bool segment_merge = true;
  int index_workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t max_streams = 512;
  int64_t fd_reserve = 64;
  std::string memory_pool = "system";
};

CLI::Validator DurationValidator() {
  return CLI::Validator(
      [](std::string& text) {
        auto duration = ParseDuration(text);
        return duration.ok() ? std::string() : duration.status().message();
      },
      "DURATION");
}

CLI::Validator ByteSizeValidator() {
  return CLI::Validator(
      [](std::string& text) {
        auto bytes = ParseByteSize(text);
        return bytes.ok() ? std::string() : bytes.status().message();
      },
      "SIZE");
}

// gRPC counts message sizes in an int.
CLI::Validator MaxMessageSizeValidator() {
  return CLI::Validator(
      [](std::string& text) {
        auto bytes = ParseByteSize(text);
        if (bytes.ok() && *bytes > INT32_MAX) return std::string("at most 2GiB - 1 (gRPC's limit)");
        return std::string();
      },
      "SIZE");
}

void AddServeFlags(CLI::App& serve, ServeConfig& config) {
  const auto port_range = CLI::Range(0, 65535);
  serve.add_option("--host", config.host, "Address the Flight and metrics ports bind to")
      ->envname("ARBALEST_HOST")
      ->capture_default_str();
  serve.add_option("--port", config.port, "Data port: DoPut, DoGet, DoExchange, DoAction")
      ->envname("ARBALEST_PORT")
      ->check(port_range)
      ->capture_default_str();
  serve
      .add_option("--meta-port", config.meta_port,
                  "Meta port: ListFlights, GetFlightInfo, GetSchema, DoGet, DoAction")
      ->envname("ARBALEST_META_PORT")
      ->check(port_range)
      ->capture_default_str();
  serve.add_option("--metrics-port", config.metrics_port, "Prometheus /metrics port (HTTP)")
      ->envname("ARBALEST_METRICS_PORT")
      ->check(port_range)
      ->capture_default_str();
  serve
      .add_flag("--metrics-port-fallback", config.metrics_port_fallback,
                "When the metrics port is taken, serve metrics on the next free port (logged)")
      ->envname("ARBALEST_METRICS_PORT_FALLBACK");
  serve
      .add_option("--metrics-datasets", config.metrics_datasets,
                  "Datasets with their own label on the per-dataset metrics (the largest by "
                  "rows); the rest are summed under dataset=\"_other\"")
      ->envname("ARBALEST_METRICS_DATASETS")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  serve.add_option("--data-dir", config.data_dir, "Directory for durable data")
      ->envname("ARBALEST_DATA_DIR")
      ->capture_default_str();
  serve.add_option("--log-format", config.log_format, "Log format: text or json")
      ->envname("ARBALEST_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  serve
      .add_option("--log-level", config.log_level,
                  "trace, debug, info, warn, error, critical or off")
      ->envname("ARBALEST_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  serve
      .add_option("--max-memory", config.max_memory,
                  "Memory for stored data, e.g. 8GiB; puts past it fail (0 = unlimited)")
      ->envname("ARBALEST_MAX_MEMORY")
      ->check(ByteSizeValidator())
      ->capture_default_str();
  serve
      .add_option(
          "--max-dimension", config.max_dimension,
          "Widest vectors a new dataset may have (0 = up to 16777216, the most any may have)")
      ->envname("ARBALEST_MAX_DIMENSION")
      ->check(CLI::Range(0, kMaxVectorDimension))
      ->capture_default_str();
  serve
      .add_option("--max-message-size", config.max_message_size,
                  "Largest gRPC message (one put batch) received, e.g. 256MiB, at most 2GiB - 1; "
                  "gRPC refuses a larger one before receiving it (0 = no limit)")
      ->envname("ARBALEST_MAX_MESSAGE_SIZE")
      ->check(ByteSizeValidator())
      ->check(MaxMessageSizeValidator())
      ->capture_default_str();
  serve
      .add_option("--fsync", config.fsync,
                  "When a put is acked: always (after fdatasync), interval (after write; "
                  "fdatasync within --fsync-interval-ms), none (after write)")
      ->envname("ARBALEST_FSYNC")
      ->check(CLI::IsMember({"always", "interval", "none"}))
      ->capture_default_str();
  serve
      .add_option("--fsync-interval-ms", config.fsync_interval_ms,
                  "Longest time acked writes wait for fdatasync under --fsync interval")
      ->envname("ARBALEST_FSYNC_INTERVAL_MS")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  serve
      .add_option("--wal-segment-size", config.wal_segment_size,
                  "WAL segment file size before rotation, e.g. 64MiB")
      ->envname("ARBALEST_WAL_SEGMENT_SIZE")
      ->check(ByteSizeValidator())
      ->capture_default_str();
  serve
      .add_option("--wal-direct-io", config.wal_direct_io,
                  "Write the WAL with direct I/O (O_DIRECT): no copy into the page cache; false "
                  "writes through the page cache (the file system's choice when it refuses "
                  "direct I/O)")
      ->envname("ARBALEST_WAL_DIRECT_IO")
      ->capture_default_str();
  serve
      .add_flag("--wal-skip-corrupt", config.wal_skip_corrupt,
                "Start even when WAL records are damaged or missing, skipping them (their rows "
                "are lost; what is lost is logged)")
      ->envname("ARBALEST_WAL_SKIP_CORRUPT");
  serve
      .add_option("--snapshot-interval", config.snapshot_interval,
                  "Snapshot the datasets that changed this often, e.g. 10m, 30s (0 = never)")
      ->envname("ARBALEST_SNAPSHOT_INTERVAL")
      ->check(DurationValidator())
      ->capture_default_str();
  serve
      .add_option("--snapshot-wal-bytes", config.snapshot_wal_bytes,
                  "Snapshot the datasets that changed once this much WAL was written since the "
                  "last snapshot, e.g. 1GiB (0 = never)")
      ->envname("ARBALEST_SNAPSHOT_WAL_BYTES")
      ->check(ByteSizeValidator())
      ->capture_default_str();
  serve
      .add_option("--index-workers", config.index_workers,
                  "Threads that index acked rows in the background (default: one per core)")
      ->envname("ARBALEST_INDEX_WORKERS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve
      .add_option("--memory-pool", config.memory_pool,
                  "Allocator behind Arrow's buffers: system (glibc malloc: reuses freed put "
                  "buffers), jemalloc or mimalloc")
      ->envname("ARBALEST_MEMORY_POOL")
      ->check(CLI::IsMember({"system", "jemalloc", "mimalloc"}))
      ->capture_default_str();
  serve
      .add_option("--compact-deleted-fraction", config.compact_deleted_fraction,
                  "Compact a dataset in the background once this fraction of its stored rows is "
                  "deleted (0 = only with the compact action)")
      ->envname("ARBALEST_COMPACT_DELETED_FRACTION")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  serve
      .add_option("--compact-min-rows", config.compact_min_rows,
                  "... and at least this many rows are deleted")
      ->envname("ARBALEST_COMPACT_MIN_ROWS")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  serve
      .add_option("--compact-rekey-keys", config.compact_rekey_keys,
                  "A compaction renumbers a dataset's row keys densely (one logged record) once "
                  "this many keys of dropped rows are gone and as many as its rows, so that a "
                  "dataset's life is not capped at 2^32 rows put (0 = at every compaction)")
      ->envname("ARBALEST_COMPACT_REKEY_KEYS")
      ->capture_default_str();
  serve
      .add_option(
          "--segment-max-bytes", config.segment_max_bytes,
          "Seal a dataset's active segment (one HNSW graph) once its vectors reach this "
          "size; the next put starts a new one (schema metadata "
          "index.segment_max_bytes overrides it per dataset; each segment's graph is saved in "
          "its own snapshot file); 0: never seal, one segment per dataset")
      ->envname("ARBALEST_SEGMENT_MAX_BYTES")
      ->check(ByteSizeValidator())
      ->capture_default_str();
  serve
      .add_option("--segment-merge", config.segment_merge,
                  "Merge a dataset's small adjacent sealed segments in the background, so that "
                  "a dataset holds few graphs (false: never merge)")
      ->envname("ARBALEST_SEGMENT_MERGE")
      ->capture_default_str();
  serve
      .add_option("--max-streams", config.max_streams,
                  "DoPut, DoGet and DoExchange calls open at once (both ports); more are refused "
                  "with UNAVAILABLE until one finishes")
      ->envname("ARBALEST_MAX_STREAMS")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  serve
      .add_option("--fd-reserve", config.fd_reserve,
                  "File descriptors kept free for the WAL and snapshots: new connections are "
                  "closed at once while fewer are free (0 = no reserve)")
      ->envname("ARBALEST_FD_RESERVE")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->capture_default_str();
  auto* null_sink =
      serve.add_flag("--null-sink", config.null_sink,
                     "Benchmarks only: ack puts without storing them (the transport's ceiling)");
  serve
      .add_flag("--log-sink", config.log_sink,
                "Benchmarks only: log puts in a WAL of their own (bench-log-sink/ in the data "
                "dir, under --fsync) and ack them without storing them (the transport plus the "
                "log's copy)")
      ->excludes(null_sink);
  serve.add_flag("--keep-vector-copies", config.keep_vector_copies,
                 "Benchmarks only: keep indexed rows' vectors apart from the graph's copy (twice "
                 "the memory), to measure what sharing them saves");
  serve
      .add_option("--shutdown-grace", config.shutdown_grace_seconds,
                  "Seconds in-flight calls get to finish after SIGINT/SIGTERM before they are "
                  "cancelled; what is left of them goes to the shutdown snapshot")
      ->envname("ARBALEST_SHUTDOWN_GRACE")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
}

std::string SimdTarget() {
  const int64_t targets = hwy::SupportedTargets();
  // The best target is the lowest set bit.
  return hwy::TargetName(targets & -targets);
}

// Blocks SIGINT and SIGTERM (and SIGHUP, with `reload`) in this thread and every thread it
// starts afterwards, so that only WaitForShutdownSignal receives them.
sigset_t BlockShutdownSignals(bool reload) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (reload) sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A file-size limit makes writes fail with EFBIG (a clear put error) instead of killing us.
  signal(SIGXFSZ, SIG_IGN);
  return signals;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return signal_number;
}

// Drains `cluster` (ClusterNode::Drain) for at most `timeout`, in a thread of its own, while
// this thread waits for signals: a second SIGINT or SIGTERM ends the drain at once (the node
// then leaves with what it has not handed over failing over); SIGHUP still reloads `tokens`.
void DrainCluster(ClusterNode& cluster, std::chrono::seconds timeout, const sigset_t& signals,
                  TokenStore* tokens) {
  std::atomic<bool> abort{false};
  std::atomic<bool> done{false};
  std::thread drain([&] {
    cluster.Drain(timeout, abort);
    done = true;
  });
  while (!done) {
    const timespec poll{0, 50'000'000};
    const int signal_number = sigtimedwait(&signals, nullptr, &poll);
    if (signal_number == SIGHUP && tokens) ReloadTokens(*tokens);
    if ((signal_number == SIGINT || signal_number == SIGTERM) && !abort.exchange(true)) {
      spdlog::warn("received {} again: leaving the cluster at once, the drain unfinished",
                   signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    }
  }
  drain.join();
}

std::string SnapshotDir(const ServeConfig& config) {
  return (std::filesystem::path(config.data_dir) / "snapshots").string();
}

// The options of a write-ahead log in `subdir` of the data dir, as the flags set them.
arrow::Result<WalOptions> WalOptionsOf(const ServeConfig& config, const std::string& subdir,
                                       std::shared_ptr<ServerMetrics> metrics) {
  WalOptions wal;
  wal.dir = (std::filesystem::path(config.data_dir) / subdir).string();
  ARROW_ASSIGN_OR_RAISE(wal.fsync, ParseFsyncPolicy(config.fsync));
  wal.fsync_interval = std::chrono::milliseconds(config.fsync_interval_ms);
  ARROW_ASSIGN_OR_RAISE(wal.segment_bytes, ParseByteSize(config.wal_segment_size));
  wal.on_sync = [metrics](double seconds) { metrics->ObserveWalSync(seconds); };
  wal.direct_io = config.wal_direct_io;
  return wal;
}

// --log-sink's log (flight/log_sink.h); null without the flag.
arrow::Result<std::shared_ptr<LogSink>> OpenLogSink(const ServeConfig& config,
                                                    std::shared_ptr<ServerMetrics> metrics) {
  if (!config.log_sink) return nullptr;
  ARROW_ASSIGN_OR_RAISE(WalOptions wal, WalOptionsOf(config, "bench-log-sink", metrics));
  return LogSink::Open(std::move(wal));
}

// Opens `store` on the data directory (store/database.h): recovery, the log continued, then
// the index workers, the compaction and snapshot threads.
arrow::Result<std::unique_ptr<Database>> OpenDatabase(const ServeConfig& config,
                                                      std::shared_ptr<VectorStore> store,
                                                      std::shared_ptr<ServerMetrics> metrics) {
  DatabaseOptions options;
  ARROW_ASSIGN_OR_RAISE(options.wal, WalOptionsOf(config, "wal", metrics));
  options.recovery = {.wal_dir = options.wal.dir,
                      .snapshot_dir = SnapshotDir(config),
                      .wal = {.skip_corrupt = config.wal_skip_corrupt}};
  options.index_workers = config.index_workers;
  // Read by every dataset created from here on (store/segment.h).
  const int64_t segment_max_bytes = *ParseByteSize(config.segment_max_bytes);
  SetDefaultSegmentMaxBytes(segment_max_bytes > 0 ? segment_max_bytes : kNeverSeal);
  options.share_vectors = !config.keep_vector_copies;
  options.compaction = {config.compact_deleted_fraction, config.compact_min_rows,
                        config.index_workers, config.segment_merge, config.compact_rekey_keys};
  options.snapshots = {SnapshotDir(config), *ParseDuration(config.snapshot_interval),
                       *ParseByteSize(config.snapshot_wal_bytes)};
  const auto start = std::chrono::steady_clock::now();
  ARROW_ASSIGN_OR_RAISE(auto database, Database::Open(std::move(options), std::move(store)));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const RecoveryResult& recovered = database->recovered();
  spdlog::info(
      "recovered {} datasets in {:.3f} s: {} from snapshots ({} rows, {} indexed rows mapped), "
      "then {} WAL records ({} rows replayed, {} deleted, {} records already in snapshots or "
      "of deleted datasets; torn bytes cut: {}, corrupt records skipped: {}, gaps in the log "
      "gone past: {}, rows known lost: {})",
      database->store().List().size(), seconds, recovered.snapshots, recovered.snapshot_rows,
      recovered.restored_index_rows, recovered.log.records, recovered.rows, recovered.deleted_rows,
      recovered.skipped_records, recovered.log.truncated_bytes, recovered.log.skipped_corrupt,
      recovered.log.gaps, recovered.lost_rows);
  return database;
}

// Raises the open file limit as far as allowed and keeps `--fd-reserve` of it free of client
// connections; logs both.
void ReserveFileDescriptors(const ServeConfig& config) {
  auto limit = RaiseOpenFileLimit();
  if (!limit.ok()) {
    spdlog::warn("cannot raise the open file limit: {}", limit.status().message());
  } else if (limit->now != limit->before) {
    spdlog::info("open file limit raised from {} to {} (the hard limit)", limit->before,
                 limit->now);
  }
  const int64_t now = CurrentOpenFileLimit();
  spdlog::info("open file limit {}: {} kept free for the WAL and snapshots (--fd-reserve)", now,
               config.fd_reserve);
  if (config.fd_reserve >= now / 2) {
    spdlog::warn("--fd-reserve {} leaves only {} of the {} file descriptors for connections",
                 config.fd_reserve, std::max<int64_t>(0, now - config.fd_reserve), now);
  }
  SetFdReserve(config.fd_reserve);
}

arrow::Status Serve(const ServeConfig& config, const SecurityConfig& security_config,
                    const ClusterConfig& cluster_config) {
  const sigset_t signals = BlockShutdownSignals(!security_config.auth_tokens.empty());
  spdlog::info("Arrow memory pool: {} (--memory-pool)",
               arrow::default_memory_pool()->backend_name());
  ReserveFileDescriptors(config);
  ARROW_ASSIGN_OR_RAISE(auto data_dir_lock, DataDirLock::Acquire(config.data_dir));
  auto store = std::make_shared<VectorStore>(config.max_memory_bytes, config.max_dimension);
  auto metrics = std::make_shared<ServerMetrics>();
  auto stream_limit = std::make_shared<StreamLimit>(config.max_streams);
  ARROW_ASSIGN_OR_RAISE(Security security, SetUpSecurity(security_config, metrics->registry()));
  ARROW_ASSIGN_OR_RAISE(auto cluster,
                        CreateClusterNode(cluster_config, config.host, config.data_dir,
                                          {security.tls.cert_pem, security.tls.key_pem,
                                           security.tls.client_ca_pem, security.tokens},
                                          *metrics->registry()));
  // The metrics port first: /healthz answers during recovery, /readyz once the Flight ports do.
  std::atomic<bool> ready{false};
  ARROW_ASSIGN_OR_RAISE(
      auto http,
      MetricsServer::Start(
          {config.host, config.metrics_port, config.metrics_port_fallback, security.tls.cert_pem,
           security.tls.key_pem},
          {metrics->registry(), std::make_shared<StoreCollector>(store, config.metrics_datasets),
           stream_limit,
           std::make_shared<ProcessCollector>(
               BuildInfo{ARBALEST_VERSION, arrow::GetBuildInfo().version_string, SimdTarget()})},
          [&ready] { return ready.load(); },
          [status = std::make_shared<StatusApi>(store, metrics, StatusInfo{ARBALEST_VERSION})] {
            return status->Serve();
          },
          {[cluster] { return (cluster ? cluster->Status() : SingleNodeStatus()).dump(); },
           [cluster] { return cluster ? cluster->ReadyDetail() : std::string(); }}));
  ARROW_ASSIGN_OR_RAISE(const auto database, OpenDatabase(config, store, metrics));
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<LogSink> log_sink, OpenLogSink(config, metrics));
  const std::jthread catch_up_log = LogIndexCatchUp(*store);
  ARROW_ASSIGN_OR_RAISE(
      auto servers,
      FlightServers::Start({config.host, config.port, config.meta_port}, store,
                           {.null_sink = config.null_sink,
                            .log_sink = log_sink,
                            .metrics = metrics,
                            .max_message_bytes = *ParseByteSize(config.max_message_size),
                            .stream_limit = stream_limit,
                            .cluster = cluster},
                           security.tls, security.auth));
  if (cluster) {
    ARROW_ASSIGN_OR_RAISE(auto addresses,
                          Advertised(cluster_config, config.host, servers->data_port(),
                                     servers->meta_port(), http->port()));
    ARROW_RETURN_NOT_OK(cluster->Join(addresses));
  }
  ready = true;
  spdlog::info(
      "arbalest {} serving: data {}:{}, meta {}:{}, metrics {}://{}:{}/metrics (status page "
      "at /), data dir {}, "
      "fsync {}, max memory {} bytes, max message {}, max dimension {}, SIMD {}, Arrow {}",
      ARBALEST_VERSION, config.host, servers->data_port(), config.host, servers->meta_port(),
      security.tls.cert_pem.empty() ? "http" : "https", config.host, http->port(), config.data_dir,
      config.fsync, config.max_memory_bytes, config.max_message_size, config.max_dimension,
      SimdTarget(), arrow::GetBuildInfo().version_string);
  if (config.log_sink) {
    spdlog::warn("--log-sink: puts are logged and DISCARDED (benchmarks only)");
  }
  if (config.null_sink) spdlog::warn("--null-sink: puts are acked and DISCARDED (benchmarks only)");
  WarnAboutExposure(config.host, security_config);
  int signal_number = WaitForShutdownSignal(signals);
  for (; signal_number == SIGHUP; signal_number = WaitForShutdownSignal(signals)) {
    ReloadTokens(*security.tokens);
  }
  spdlog::info("received {}: finishing in-flight calls and shutting down",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  if (cluster && cluster_config.drain_timeout_seconds > 0) {
    DrainCluster(*cluster, std::chrono::seconds(cluster_config.drain_timeout_seconds), signals,
                 security.tokens.get());
  }
  const auto grace = std::chrono::seconds(config.shutdown_grace_seconds);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  if (cluster) cluster->Leave();              // other nodes stop sending searches here at once
  store->snapshotter()->AbandonAt(deadline);  // a `snapshot` call in flight ends in time too
  ARROW_RETURN_NOT_OK(servers->Shutdown(grace));
  database->Close(deadline);  // what does not finish within the grace period is in the log
  spdlog::info("shut down cleanly");
  return arrow::Status::OK();
}

}  // namespace
}  // namespace arbalest

int main(int argc, char** argv) {
  using arbalest::kUsageError;
  // Before any thread allocates (store/free_memory.h); MALLOC_ARENA_MAX, when set, decides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) arbalest::ShareOneMallocArena();
  CLI::App app{"Arbalest: a vector database served over Apache Arrow Flight"};
  app.set_version_flag("--version", ARBALEST_VERSION);
  app.require_subcommand(1);
  arbalest::ServeConfig config;
  CLI::App* serve = app.add_subcommand("serve", "Run a node (every flag has an ARBALEST_* twin)");
  arbalest::AddServeFlags(*serve, config);
  arbalest::SecurityConfig security_config;
  arbalest::AddSecurityFlags(*serve, security_config);
  arbalest::ClusterConfig cluster_config;
  arbalest::AddClusterFlags(*serve, cluster_config);
  arbalest::TokenCommand token_command;
  CLI::App* token = arbalest::AddTokenCommand(app, token_command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  }
  if (token->parsed()) return arbalest::RunTokenCommand(token_command);
  config.max_memory_bytes = *arbalest::ParseByteSize(config.max_memory);
  // Before anything large is allocated: under a limit, freed memory must not stay resident.
  if (config.max_memory_bytes > 0) arbalest::ReturnLargeBlocksWhenFreed();
  if (auto status = arbalest::InitLogging(config.log_format, config.log_level); !status.ok()) {
    std::cerr << status.message() << std::endl;
    return kUsageError;
  }
  if (auto status = arbalest::SelectArrowMemoryPool(config.memory_pool); !status.ok()) {
    std::cerr << status.message() << std::endl;
    return kUsageError;
  }
  if (auto status = arbalest::Serve(config, security_config, cluster_config); !status.ok()) {
    spdlog::critical("{}", status.ToString());
    return 1;
  }
  return 0;
}
