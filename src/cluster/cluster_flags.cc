#include "cluster/cluster_flags.h"

#include <arrow/status.h>

#include "cluster/peer_clients.h"
#include "common/duration.h"

namespace arbalest {
namespace {

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

}  // namespace

void AddClusterFlags(CLI::App& serve, ClusterConfig& config) {
  serve
      .add_option("--cluster-etcd", config.etcd,
                  "Join a cluster coordinated by etcd at these URLs (comma-separated, e.g. "
                  "http://127.0.0.1:2379); unset: a single node that needs no etcd")
      ->envname("ARBALEST_CLUSTER_ETCD");
  serve
      .add_option("--cluster-name", config.name,
                  "The cluster's name: its etcd keys are under /<name>/ and the data dir is "
                  "recorded as belonging to it")
      ->envname("ARBALEST_CLUSTER_NAME")
      ->capture_default_str();
  serve
      .add_option("--node-id", config.node_id,
                  "This node's id in the cluster (default: the advertised address, ':' as '-')")
      ->envname("ARBALEST_NODE_ID");
  serve
      .add_option("--advertise", config.advertise,
                  "HOST:PORT other nodes reach this node's data port at (default: --host and "
                  "--port); its host is published for the meta and metrics ports too")
      ->envname("ARBALEST_ADVERTISE");
  serve
      .add_option("--cluster-lease-ttl", config.lease_ttl_seconds,
                  "Seconds a dead node stays in the member list (its etcd lease TTL)")
      ->envname("ARBALEST_CLUSTER_LEASE_TTL")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  const CLI::Validator positive_duration(
      [](std::string& text) {
        auto duration = ParseDuration(text);
        if (!duration.ok()) return duration.status().message();
        return duration->count() > 0 ? std::string() : std::string("must be more than 0");
      },
      "DURATION");
  serve
      .add_option("--cluster-search-timeout", config.search_timeout,
                  "How long a search waits for the other members (a request's timeout_ms "
                  "overrides it), e.g. 5s")
      ->envname("ARBALEST_CLUSTER_SEARCH_TIMEOUT")
      ->check(positive_duration)
      ->capture_default_str();
  serve
      .add_option("--cluster-hedge-after", config.hedge_after,
                  "A search asks a shard's next replica when the first has not answered within "
                  "this (a hedged read: the first answer wins); 0: only once the first failed")
      ->envname("ARBALEST_CLUSTER_HEDGE_AFTER")
      ->check(CLI::Validator(
          [](std::string& text) {
            auto duration = ParseDuration(text);
            return duration.ok() ? std::string() : duration.status().message();
          },
          "DURATION"))
      ->capture_default_str();
  serve
      .add_option("--cluster-shards", config.shards,
                  "Shards of a dataset created on this node (schema metadata 'arbalest.shards' "
                  "overrides it); 0: datasets are not sharded, each node holds what is put to it")
      ->envname("ARBALEST_CLUSTER_SHARDS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  serve
      .add_option("--cluster-replication", config.replication,
                  "Replicas of each shard of a dataset created on this node (at most the live "
                  "members)")
      ->envname("ARBALEST_CLUSTER_REPLICATION")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  serve
      .add_option("--cluster-write-quorum", config.write_quorum,
                  "Replicas that must hold a put's rows before it is acked (W); 0: all the "
                  "dataset's replicas (its replication factor)")
      ->envname("ARBALEST_CLUSTER_WRITE_QUORUM")
      ->check(CLI::Range(0, 16))
      ->capture_default_str();
  serve
      .add_option("--cluster-put-timeout", config.put_timeout,
                  "How long a routed put waits for each shard's primary and replicas, e.g. 5s")
      ->envname("ARBALEST_CLUSTER_PUT_TIMEOUT")
      ->check(positive_duration)
      ->capture_default_str();
  serve
      .add_option("--cluster-drain-timeout", config.drain_timeout_seconds,
                  "Seconds a node stopped with SIGTERM or SIGINT may spend handing its shards "
                  "over to the other members before it leaves (a second signal leaves at once); "
                  "0: leave at once, its shards failing over")
      ->envname("ARBALEST_CLUSTER_DRAIN_TIMEOUT")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  serve
      .add_option("--cluster-ca", config.security.ca,
                  "PEM CA certificates that verify the other members' TLS certificates "
                  "(default: --tls-client-ca, else the system's CAs); needs --tls-cert")
      ->envname("ARBALEST_CLUSTER_CA");
  serve
      .add_option("--cluster-token-file", config.security.token_file,
                  "File holding the token this node's calls to other members carry (`arbalest "
                  "token --role cluster`); needed with --auth-tokens")
      ->envname("ARBALEST_CLUSTER_TOKEN_FILE");
  serve
      .add_option("--cluster-etcd-ca", config.security.etcd_ca,
                  "PEM CA certificates that verify https etcd endpoints")
      ->envname("ARBALEST_CLUSTER_ETCD_CA");
  serve
      .add_option("--cluster-etcd-cert", config.security.etcd_cert,
                  "PEM client certificate for etcd (its --client-cert-auth)")
      ->envname("ARBALEST_CLUSTER_ETCD_CERT");
  serve
      .add_option("--cluster-etcd-key", config.security.etcd_key,
                  "PEM private key of --cluster-etcd-cert")
      ->envname("ARBALEST_CLUSTER_ETCD_KEY");
}

arrow::Result<std::shared_ptr<ClusterNode>> CreateClusterNode(const ClusterConfig& config,
                                                              const std::string& host,
                                                              const std::string& data_dir,
                                                              const NodeSecurity& node,
                                                              prometheus::Registry& registry) {
  if (config.etcd.empty()) {
    const ClusterSecurityConfig& security = config.security;
    if (!config.node_id.empty() || !config.advertise.empty() || !security.ca.empty() ||
        !security.token_file.empty() || !security.etcd_ca.empty() || !security.etcd_cert.empty() ||
        !security.etcd_key.empty()) {
      return arrow::Status::Invalid(
          "--node-id, --advertise, --cluster-ca, --cluster-token-file and --cluster-etcd-* "
          "need --cluster-etcd");
    }
    return nullptr;
  }
  // The ports are not bound yet: only the host and --advertise are checked here.
  ARROW_RETURN_NOT_OK(Advertised(config, host, 0, 0, 0).status());
  ClusterOptions options;
  options.etcd_endpoints = SplitCommas(config.etcd);
  if (options.etcd_endpoints.empty()) return arrow::Status::Invalid("--cluster-etcd is empty");
  options.cluster = config.name;
  options.node_id = config.node_id;
  options.lease_ttl_seconds = config.lease_ttl_seconds;
  ARROW_ASSIGN_OR_RAISE(options.search_timeout, ParseDuration(config.search_timeout));
  ARROW_ASSIGN_OR_RAISE(options.hedge_after, ParseDuration(config.hedge_after));
  ARROW_ASSIGN_OR_RAISE(options.put_timeout, ParseDuration(config.put_timeout));
  options.shards = config.shards;
  options.replication = config.replication;
  options.write_quorum = config.write_quorum;
  options.data_dir = data_dir;
  ARROW_ASSIGN_OR_RAISE(options.etcd_tls, MakeEtcdTls(config.security));
  ARROW_ASSIGN_OR_RAISE(options.peers, MakePeerSecurity(config.security, node));
  return ClusterNode::Create(std::move(options), registry);
}

arrow::Result<AdvertisedAddresses> Advertised(const ClusterConfig& config, const std::string& host,
                                              int data_port, int meta_port, int metrics_port) {
  std::string advertised_host = host;
  std::string flight = host + ":" + std::to_string(data_port);
  if (!config.advertise.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto host_port, SplitHostPort(config.advertise));
    advertised_host = host_port.first;
    flight = config.advertise;
  } else if (host == "0.0.0.0" || host == "::" || host.empty()) {
    return arrow::Status::Invalid("--host ", host,
                                  " is not an address other nodes can reach: give --advertise "
                                  "HOST:PORT");
  }
  return AdvertisedAddresses{flight, advertised_host + ":" + std::to_string(meta_port),
                             advertised_host + ":" + std::to_string(metrics_port)};
}

}  // namespace arbalest
