// The two Flight endpoints of a node (data and meta ports) over one store.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>

#include "flight/auth_service.h"
#include "flight/flight_service.h"

namespace arbalest {

struct FlightPorts {
  std::string host = "127.0.0.1";
  int data_port = 3000;  // 0 picks a free port
  int meta_port = 3001;  // 0 picks a free port
};

// TLS on both Flight ports (--tls-cert, --tls-key, --tls-client-ca): PEM contents.
struct TlsOptions {
  std::string cert_pem;  // empty: no TLS
  std::string key_pem;
  std::string client_ca_pem;  // not empty: clients must present a certificate it signed
};

// Not thread-safe: start, then shut down, from one thread.
class FlightServers {
 public:
  // Binds and starts serving both ports. IOError names the port that could not be bound.
  // With `auth`, every call needs a token (auth_service.h).
  static arrow::Result<std::unique_ptr<FlightServers>> Start(
      const FlightPorts& ports, std::shared_ptr<VectorStore> store, ServiceOptions options = {},
      TlsOptions tls = {}, std::shared_ptr<Authenticator> auth = nullptr);

  int data_port() const { return data_->port(); }
  int meta_port() const { return meta_->port(); }

  // Stops accepting calls and waits for in-flight ones, cancelling those still running after
  // `grace`.
  arrow::Status Shutdown(std::chrono::seconds grace);

 private:
  FlightServers(std::unique_ptr<FlightService> data, std::unique_ptr<FlightService> meta)
      : data_(std::move(data)), meta_(std::move(meta)) {}

  std::unique_ptr<FlightService> data_;
  std::unique_ptr<FlightService> meta_;
};

}  // namespace arbalest
