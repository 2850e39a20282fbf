// The cluster flags of `arbalest serve` (README's flag table; each has an ARBALEST_* twin) and
// what main does with them: without --cluster-etcd there is no cluster and the node behaves as
// a single server that needs no etcd.
#pragma once

#include <arrow/result.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cluster/cluster_node.h"
#include "cluster/cluster_security.h"

namespace arbalest {

struct ClusterConfig {
  std::string etcd;  // comma-separated URLs; empty: no cluster
  std::string name = "arbalest";
  std::string node_id;
  std::string advertise;  // host:port of the data port as other nodes reach it
  int lease_ttl_seconds = 5;
  std::string search_timeout = "5s";
  std::string hedge_after = "100ms";
  int shards = 4;
  int replication = 2;
  int write_quorum = 0;
  std::string put_timeout = "5s";
  int drain_timeout_seconds = 30;  // SIGTERM: how long the drain may take; 0: leave at once
  ClusterSecurityConfig security;
};

void AddClusterFlags(CLI::App& serve, ClusterConfig& config);

// The node's cluster, checked as ClusterNode::Create says; null without --cluster-etcd.
// Invalid for cluster flags without --cluster-etcd, for security settings MakePeerSecurity or
// MakeEtcdTls refuse (`node`: what the node serves with), or without an address to advertise
// (Advertised), all before anything binds a port.
arrow::Result<std::shared_ptr<ClusterNode>> CreateClusterNode(const ClusterConfig& config,
                                                              const std::string& host,
                                                              const std::string& data_dir,
                                                              const NodeSecurity& node,
                                                              prometheus::Registry& registry);

// What this node publishes: --advertise (or --host and the data port) for Flight, the same
// host with the meta and metrics ports. Invalid when the host is a wildcard address and
// --advertise is not given.
arrow::Result<AdvertisedAddresses> Advertised(const ClusterConfig& config, const std::string& host,
                                              int data_port, int meta_port, int metrics_port);

}  // namespace arbalest
