// How a cluster node secures what it sends (docs/security.md, "Clusters"): the calls to other
// members follow the node's own serving settings (TLS when it serves TLS, its certificate for
// peers that ask for one, the cluster token when it requires tokens), and etcd is reached
// over https with the --cluster-etcd-* files. Checked at startup, before any port is bound.
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>

#include "cluster/etcd_client.h"
#include "cluster/peer_clients.h"
#include "security/token_store.h"

namespace arbalest {

// The cluster's security flags.
struct ClusterSecurityConfig {
  std::string ca;          // --cluster-ca: verifies the peers' certificates
  std::string token_file;  // --cluster-token-file: the token the hops carry
  std::string etcd_ca;     // --cluster-etcd-ca, --cluster-etcd-cert, --cluster-etcd-key
  std::string etcd_cert;
  std::string etcd_key;
};

// What the node serves with (serve_security.h's flags, read).
struct NodeSecurity {
  std::string cert_pem;  // empty: no TLS
  std::string key_pem;
  std::string client_ca_pem;           // --tls-client-ca
  std::shared_ptr<TokenStore> tokens;  // null: no --auth-tokens
};

// The settings of the calls to peers. Invalid: --cluster-ca without TLS; --auth-tokens without
// --cluster-token-file; a cluster token that is malformed, or not in this node's token file
// (its peers, sharing the file, would refuse it), or whose role may not make the hops.
arrow::Result<PeerSecurity> MakePeerSecurity(const ClusterSecurityConfig& config,
                                             const NodeSecurity& node);

// The files of https etcd endpoints; Invalid when --cluster-etcd-cert and --cluster-etcd-key
// are not given together.
arrow::Result<etcd::ClientTls> MakeEtcdTls(const ClusterSecurityConfig& config);

// The token of a --cluster-token-file: its first line that is neither blank nor a # comment,
// without surrounding spaces. Invalid when there is none or it is not an arbalest token.
arrow::Result<std::string> ReadClusterToken(const std::string& path);

}  // namespace arbalest
