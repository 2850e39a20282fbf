#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <arrow/status.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/fd_reserve.h"
#include "metrics/status_assets.h"

namespace arbalest {
namespace {

// How many ports past --metrics-port the fallback tries.
constexpr int kFallbackPorts = 64;
// A connection that sends or receives nothing for this long is closed (a keep-alive scraper
// reconnects; a probe's request takes milliseconds).
constexpr unsigned kIdleTimeoutSeconds = 10;
// Connections past this many wait in the listen backlog until one closes: each costs a file
// descriptor and its buffer, however little it sends.
constexpr unsigned kMaxConnections = 512;
// Per-connection buffer for the request line and headers (probes and scrapers send ~200 bytes;
// a longer request is answered 431 and closed).
constexpr size_t kConnectionMemory = 16 * 1024;
// Epoll threads: a slow scrape on one leaves the other to answer probes.
constexpr unsigned kThreads = 2;

struct ListenResult {
  int fd = -1;
  std::string error;
};

// A listening TCP socket on host:port, ready for MHD_OPTION_LISTEN_SOCKET; the error names
// what failed.
ListenResult Listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    return {-1, std::string("cannot resolve the host: ") + gai_strerror(rc)};
  }
  ListenResult result{-1, "no address"};
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    const int fd =
        ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      result.error = std::strerror(errno);
      continue;
    }
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd, address->ai_addr, address->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      result = {fd, ""};
      break;
    }
    result.error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(addresses);
  return result;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -1;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

MHD_Result Reply(MHD_Connection* connection, unsigned code, std::string_view content_type,
                 std::string_view body) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", std::string(content_type).c_str());
  MHD_add_response_header(response, "Cache-Control", "no-store");
  const MHD_Result queued = MHD_queue_response(connection, code, response);
  MHD_destroy_response(response);
  return queued;
}

std::string ScrapeText(const MetricsServer::Endpoints& endpoints) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : endpoints.collectables) {
    auto collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

// Called by MHD once a request's headers are in (GET and HEAD carry no body).
MHD_Result HandleRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                         const char*, const char*, size_t* upload_size, void**) {
  const auto& endpoints = *static_cast<const MetricsServer::Endpoints*>(cls);
  const std::string_view verb(method);
  if (verb != MHD_HTTP_METHOD_GET && verb != MHD_HTTP_METHOD_HEAD) {
    *upload_size = 0;
    return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
  }
  const std::string_view path(url);
  if (path == "/metrics") {
    return Reply(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 ScrapeText(endpoints));
  }
  if (path == "/healthz") return Reply(connection, MHD_HTTP_OK, "text/plain", "ok\n");
  if (path == "/readyz") {
    if (!endpoints.ready()) {
      return Reply(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                   "starting: recovering data\n");
    }
    // A degraded cluster node still serves what it holds: ready, with the detail.
    const std::string detail =
        endpoints.cluster.ready_detail ? endpoints.cluster.ready_detail() : std::string();

    return Reply(connection, MHD_HTTP_OK, "text/plain",
                 detail.empty() ? "ready\n" : "ready\n" + detail + "\n");
  }
  if (path == "/cluster" && endpoints.cluster.status) {
    return Reply(connection, MHD_HTTP_OK, "application/json", endpoints.cluster.status());
  }
  if (endpoints.status) {
    if (path == "/api/status") {
      return Reply(connection, MHD_HTTP_OK, "application/json", endpoints.status());
    }
    for (const StaticAsset& asset : StatusPageAssets()) {
      if (path == asset.path) return Reply(connection, MHD_HTTP_OK, asset.content_type, asset.body);
    }
  }
  return Reply(connection, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

void LogToSpdlog(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof(line), format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  spdlog::debug("metrics http: {}", text);
}

}  // namespace

arrow::Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsServerOptions& options,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables, std::function<bool()> ready,
    std::function<std::string()> status, ClusterEndpoints cluster) {
  auto endpoints = std::make_unique<Endpoints>(
      Endpoints{std::move(collectables), std::move(ready), std::move(status), std::move(cluster)});
  const int tries = options.port_fallback && options.port != 0 ? kFallbackPorts : 1;
  std::string last_error;
  for (int i = 0; i < tries; ++i) {
    const int port = options.port + i;
    ListenResult listening = Listen(options.host, port);
    if (listening.fd < 0) {
      last_error = listening.error;
      continue;
    }
    const int bound = BoundPort(listening.fd);
    LetProbesUseHalfTheReserve(listening.fd);
    auto kept = std::make_unique<MetricsServerOptions>(options);
    const bool tls = !kept->tls_cert_pem.empty();
    MHD_OptionItem tls_options[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, kept->tls_cert_pem.data()},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, kept->tls_key_pem.data()},
        {MHD_OPTION_END, 0, nullptr}};
    MHD_Daemon* daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | (tls ? MHD_USE_TLS : 0), 0, nullptr, nullptr,
        &HandleRequest, endpoints.get(), MHD_OPTION_EXTERNAL_LOGGER, &LogToSpdlog, nullptr,
        MHD_OPTION_LISTEN_SOCKET, listening.fd, MHD_OPTION_THREAD_POOL_SIZE, kThreads,
        MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds, MHD_OPTION_CONNECTION_LIMIT,
        kMaxConnections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory, MHD_OPTION_ARRAY,
        tls_options, MHD_OPTION_END);
    if (daemon == nullptr) {
      ::close(listening.fd);
      return arrow::Status::IOError("cannot start the metrics HTTP", tls ? "S" : "", " server on ",
                                    options.host, ":", bound, " (--metrics-port",
                                    tls ? "; is --tls-key the key of --tls-cert?" : "", ")");
    }
    if (i > 0) {
      spdlog::warn("metrics port {} is taken; serving metrics on port {} (--metrics-port-fallback)",
                   options.port, bound);
    }
    return std::unique_ptr<MetricsServer>(
        new MetricsServer(std::move(endpoints), daemon, bound, std::move(kept)));
  }
  return arrow::Status::IOError(
      "cannot serve metrics on ", options.host, ":", options.port,
      tries > 1 ? " or the " + std::to_string(tries - 1) + " ports after it" : std::string(),
      " (--metrics-port; is it in use? --metrics-port-fallback takes the next free port): ",
      last_error);
}

MetricsServer::~MetricsServer() {
  // Stops the threads and closes every connection and the listening socket.
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace arbalest
