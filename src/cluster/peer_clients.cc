#include "cluster/peer_clients.h"

#include <arrow/status.h>
#include <arrow/util/uri.h>

#include <algorithm>
#include <charconv>

namespace arbalest {

arrow::Result<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0) {
    return arrow::Status::Invalid("'", address, "' is not host:port");
  }
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  auto [stop, error] = std::from_chars(begin, end, port);
  if (error != std::errc() || stop != end || port <= 0 || port > 65535) {
    return arrow::Status::Invalid("'", address, "' is not host:port (port 1-65535)");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::pair{std::move(host), port};
}

arrow::flight::FlightCallOptions PeerClients::CallOptions(std::chrono::milliseconds timeout) const {
  arrow::flight::FlightCallOptions call;
  call.timeout = arrow::flight::TimeoutDuration(std::chrono::duration<double>(timeout).count());
  if (!security_.token.empty()) {
    call.headers.emplace_back("authorization", "Bearer " + security_.token);
  }
  return call;
}

arrow::Result<std::pair<arrow::flight::Location, arrow::flight::FlightClientOptions>>
PeerClients::Target(const std::string& address) const {
  ARROW_ASSIGN_OR_RAISE(auto host_port, SplitHostPort(address));
  arrow::flight::Location location;
  auto options = arrow::flight::FlightClientOptions::Defaults();
  if (security_.tls) {
    ARROW_ASSIGN_OR_RAISE(location,
                          arrow::flight::Location::ForGrpcTls(host_port.first, host_port.second));
    options.tls_root_certs = security_.root_ca_pem;
    options.cert_chain = security_.cert_pem;
    options.private_key = security_.key_pem;
  } else {
    ARROW_ASSIGN_OR_RAISE(location,
                          arrow::flight::Location::ForGrpcTcp(host_port.first, host_port.second));
  }
  return std::pair{std::move(location), std::move(options)};
}

arrow::Result<std::shared_ptr<arrow::flight::FlightClient>> PeerClients::Get(
    const std::string& address) {
  {
    MutexLock lock(&mutex_);
    if (auto it = clients_.find(address); it != clients_.end()) return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(auto target, Target(address));
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::flight::FlightClient> client,
                        arrow::flight::FlightClient::Connect(target.first, target.second));
  MutexLock lock(&mutex_);
  auto [it, inserted] = clients_.emplace(address, client);
  return it->second;  // a client connected meanwhile by another search wins
}

arrow::Result<std::shared_ptr<arrow::flight::internal::ClientTransport>> PeerClients::Transport(
    const std::string& address) {
  {
    MutexLock lock(&mutex_);
    if (auto it = transports_.find(address); it != transports_.end()) return it->second;
  }
  // Connecting a client first registers Flight's gRPC transport, as FlightClient does.
  ARROW_RETURN_NOT_OK(Get(address).status());
  ARROW_ASSIGN_OR_RAISE(auto target, Target(address));
  ARROW_ASSIGN_OR_RAISE(
      auto made,
      arrow::flight::internal::GetDefaultTransportRegistry()->MakeClient(target.first.scheme()));
  ARROW_ASSIGN_OR_RAISE(auto uri, arrow::util::Uri::FromString(target.first.ToString()));
  ARROW_RETURN_NOT_OK(made->Init(target.second, target.first, uri));
  // Closed before it goes, as FlightClient closes its own (gRPC's transport waits otherwise).
  std::shared_ptr<arrow::flight::internal::ClientTransport> transport(
      made.release(), [](arrow::flight::internal::ClientTransport* closing) {
        ARROW_UNUSED(closing->Close());
        delete closing;
      });
  MutexLock lock(&mutex_);
  auto [it, inserted] = transports_.emplace(address, transport);
  return it->second;
}

void PeerClients::Drop(const std::string& address) {
  MutexLock lock(&mutex_);
  clients_.erase(address);
  transports_.erase(address);
}

void PeerClients::KeepOnly(const std::vector<std::string>& addresses) {
  MutexLock lock(&mutex_);
  auto gone = [&](const auto& entry) {
    return std::find(addresses.begin(), addresses.end(), entry.first) == addresses.end();
  };
  std::erase_if(clients_, gone);
  std::erase_if(transports_, gone);
}

}  // namespace arbalest
