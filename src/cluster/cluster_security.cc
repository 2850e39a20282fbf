#include "cluster/cluster_security.h"

#include <arrow/status.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include "security/pem_file.h"
#include "security/tokens.h"

namespace arbalest {
namespace {

std::string Trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r") - begin + 1);
}

// Whether this node's own token file lets `token` make the hops, as its peers will check it.
arrow::Status CheckAgainstOwnTokens(const std::string& token, const TokenStore& tokens,
                                    const std::string& path) {
  const TokenEntry* entry = tokens.table()->Find(token);
  if (!entry) {
    return arrow::Status::Invalid(
        "--cluster-token-file ", path, ": its token '", *TokenId(token),
        "' is not in --auth-tokens ", tokens.path(),
        " (unknown or altered): the other members, sharing that file, would refuse this node's "
        "searches. Add the line `arbalest token --role cluster` printed with it");
  }
  if (!entry->all_datasets()) {
    spdlog::warn(
        "--cluster-token-file: token '{}' may only use datasets {}: searches of other datasets "
        "will miss the other members",
        entry->id, entry->DatasetsText());
  }
  if (entry->role != Role::kCluster) {
    spdlog::warn(
        "--cluster-token-file: token '{}' has role {}; a token of role cluster (`arbalest token "
        "--role cluster`) is enough for the calls between nodes, and can do nothing else",
        entry->id, RoleName(entry->role));
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::string> ReadClusterToken(const std::string& path) {
  std::ifstream file(path);
  if (!file) return arrow::Status::IOError("--cluster-token-file: cannot read ", path);
  std::string line;
  while (std::getline(file, line)) {
    const std::string token = Trim(line);
    if (token.empty() || token.front() == '#') continue;
    auto id = TokenId(token);
    if (!id.ok()) {
      return arrow::Status::Invalid(
          "--cluster-token-file ", path,
          ": not a token made by `arbalest token`: ", id.status().message());
    }
    return token;
  }
  return arrow::Status::Invalid("--cluster-token-file ", path, " holds no token");
}

arrow::Result<PeerSecurity> MakePeerSecurity(const ClusterSecurityConfig& config,
                                             const NodeSecurity& node) {
  PeerSecurity peers;
  if (!config.ca.empty() && node.cert_pem.empty()) {
    return arrow::Status::Invalid(
        "--cluster-ca needs --tls-cert and --tls-key: the calls between nodes use TLS when the "
        "nodes serve it");
  }
  if (!node.cert_pem.empty()) {
    peers.tls = true;
    peers.cert_pem = node.cert_pem;
    peers.key_pem = node.key_pem;
    if (!config.ca.empty()) {
      ARROW_ASSIGN_OR_RAISE(peers.root_ca_pem, ReadPemFile(config.ca, "--cluster-ca"));
    } else {
      peers.root_ca_pem = node.client_ca_pem;  // empty: the system's roots
    }
  }
  if (node.tokens && config.token_file.empty()) {
    return arrow::Status::Invalid(
        "--auth-tokens in a cluster needs --cluster-token-file: the other members require a "
        "token of this node's searches too (docs/security.md, Clusters)");
  }
  if (!config.token_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(peers.token, ReadClusterToken(config.token_file));
    if (node.tokens) {
      ARROW_RETURN_NOT_OK(CheckAgainstOwnTokens(peers.token, *node.tokens, config.token_file));
    }
  }
  return peers;
}

arrow::Result<etcd::ClientTls> MakeEtcdTls(const ClusterSecurityConfig& config) {
  if (config.etcd_cert.empty() != config.etcd_key.empty()) {
    return arrow::Status::Invalid("--cluster-etcd-cert and --cluster-etcd-key go together");
  }
  for (const auto& [path, flag] : {std::pair{config.etcd_ca, "--cluster-etcd-ca"},
                                   std::pair{config.etcd_cert, "--cluster-etcd-cert"},
                                   std::pair{config.etcd_key, "--cluster-etcd-key"}}) {
    if (!path.empty()) ARROW_RETURN_NOT_OK(ReadPemFile(path, flag).status());
  }
  return etcd::ClientTls{config.etcd_ca, config.etcd_cert, config.etcd_key};
}

}  // namespace arbalest
