// Arrow Flight clients to the other members, one per address, kept for reuse (a gRPC channel
// per peer, shared by concurrent searches). A client whose peer stopped answering is dropped so
// that the next search connects afresh instead of waiting out gRPC's reconnect backoff.
// With PeerSecurity, the clients speak TLS (verifying peers against a CA, presenting this node's
// own certificate to peers that ask for one) and carry the cluster token (docs/security.md).
#pragma once

#include <arrow/flight/client.h>
#include <arrow/flight/transport.h>
#include <arrow/result.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"

namespace arbalest {

// How this node reaches its peers: what its own serving settings and the cluster flags give.
struct PeerSecurity {
  bool tls = false;         // grpc+tls:// (this node serves TLS, so its peers do too)
  std::string root_ca_pem;  // verifies the peers' certificates; empty: the system's roots
  std::string cert_pem;     // this node's certificate and key, for peers that ask for one
  std::string key_pem;
  std::string token;  // sent as `authorization: Bearer <token>`; empty: none
};

// Thread-safe.
class PeerClients {
 public:
  explicit PeerClients(PeerSecurity security = {}) : security_(std::move(security)) {}

  // The options of every call to a peer: the cluster token's header, and `timeout`.
  arrow::flight::FlightCallOptions CallOptions(std::chrono::milliseconds timeout) const;
  bool tls() const { return security_.tls; }
  bool carries_token() const { return !security_.token.empty(); }

  // The client for `address` (host:port), connected on first use. Invalid for an address that
  // is not host:port.
  arrow::Result<std::shared_ptr<arrow::flight::FlightClient>> Get(const std::string& address);
  // Flight's client transport for `address`, with the same settings, made on first use (its
  // own channel): what a cancellable DoPut (put_call.h) is opened on.
  arrow::Result<std::shared_ptr<arrow::flight::internal::ClientTransport>> Transport(
      const std::string& address);
  // Forgets the client and transport of `address` (its peer failed).
  void Drop(const std::string& address);
  // Forgets the clients and transports of every address not in `addresses` (members that left).
  void KeepOnly(const std::vector<std::string>& addresses);

 private:
  // Where and how to connect to `address`.
  arrow::Result<std::pair<arrow::flight::Location, arrow::flight::FlightClientOptions>> Target(
      const std::string& address) const;

  const PeerSecurity security_;
  Mutex mutex_;
  std::map<std::string, std::shared_ptr<arrow::flight::FlightClient>> clients_ GUARDED_BY(mutex_);
  std::map<std::string, std::shared_ptr<arrow::flight::internal::ClientTransport>> transports_
      GUARDED_BY(mutex_);
};

// Splits "host:port" (the last ':'; "[v6]:port" keeps its brackets out). Invalid otherwise.
arrow::Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace arbalest
