"""Hedged shard reads in a cluster of real processes (docs/cluster.md, "Hedged reads"): a
replica that hangs (SIGSTOP: it keeps its member key, its lease outlives the test) is overtaken
by the shard's other replica after --cluster-hedge-after, so searches, scans and stats stay
complete within their timeout_ms; with --cluster-hedge-after 0 the same read waits for the hung
replica until its deadline and, under require_all, fails naming it.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pyarrow.flight as flight
import pytest

from arbalest_util import (action, http_get, make_table, put_table, scan, unique_name,
                           vectors_of)
from test_cluster import (DIM, Cluster, brute_force_ids, missing_nodes, node_id, search,
                          wait_for_members)
from test_cluster_shards import shard_map

ROWS = 300


def first_asked_elsewhere(map_: dict, asker: str):
    """A shard that `asker` holds no replica of, and the replica it asks first: the readable
    replicas in map order, rotated by the shard number (cluster_shards.cc, AskOrder)."""
    for shard in map_["placement"]:
        readable = [r for r in shard["replicas"]
                    if r not in shard.get("syncing", []) and r not in shard.get("leaving", [])]
        if asker not in readable and len(readable) > 1:
            return shard["shard"], readable[shard["shard"] % len(readable)]
    return None, None


def start(tmp_path, hedge_after: str):
    # A long lease: the hung node stays a member, so it is still asked.
    c = Cluster(tmp_path, unique_name("hedge"), lease_ttl_s=120, shards=8,
                extra_args=["--cluster-hedge-after", hedge_after])
    for i in range(3):
        c.add_node(i)
    wait_for_members(c.nodes, {node_id(n) for n in c.nodes}, "all three members listed")
    return c


@pytest.mark.parametrize("hedge_after", ["50ms", "0"])
def test_a_hung_replica_is_overtaken_only_when_hedging(tmp_path, hedge_after):
    c = start(tmp_path, hedge_after)
    victim = None
    try:
        name = unique_name("hedged")
        table = make_table(ROWS, d=DIM, rng=np.random.default_rng(5))
        put_table(c.nodes[0].data, name, table, batch_size=100)
        ids, vectors = table.column("id").to_numpy(), vectors_of(table.column("vector"))
        asker = c.nodes[0]
        shard, victim_id = first_asked_elsewhere(shard_map(asker, name), node_id(asker))
        assert victim_id is not None, shard_map(asker, name)
        victim = next(n for n in c.nodes if node_id(n) == victim_id)
        os.kill(victim.proc.pid, signal.SIGSTOP)

        query = vectors[7]
        if hedge_after == "0":
            with pytest.raises(flight.FlightUnavailableError,
                               match=f"require_all: shard {shard} of '{name}': no replica "
                                     f"answered: timeout: no answer from peer {victim_id}"):
                search(asker, name, query, 10, require_all=True, timeout_ms=1500)
            return
        for q in (query, vectors[100], vectors[250]):
            found = search(asker, name, q, 10, require_all=True, timeout_ms=5000)
            assert missing_nodes(found) == []
            assert found.column("id").to_pylist() == brute_force_ids(ids, vectors, q, 10)
        scanned = scan(asker.data, {"dataset": name, "require_all": True, "timeout_ms": 5000})
        assert sorted(scanned.column("id").to_pylist()) == sorted(ids.tolist())
        stats = action(asker.data, "stats", {"dataset": name, "require_all": True,
                                             "timeout_ms": 5000})[0]["cluster"]
        assert stats["rows"] == ROWS
        _, _, body = http_get(asker.metrics_port, "/metrics")
        hedged = [line for line in body.splitlines()
                  if line.startswith("arbalest_cluster_hedged_reads_total")]
        assert hedged and float(hedged[0].split()[-1]) >= 5  # 3 searches, a scan, a stats
    finally:
        if victim is not None:
            os.kill(victim.proc.pid, signal.SIGCONT)
        c.stop()
