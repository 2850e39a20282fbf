"""A cluster node answers its own shards in-process, not over a loopback Flight hop
(docs/cluster.md): three real nodes, four shards, R=2.

A search, a scan and a `stats` through a node reach the other members only for the shards the
node holds no readable replica of, and the node's own Flight service sees the client's call
alone (its RPC counters, scraped from /metrics, say so); the result is the one the hops to
every shard's replica give (each shard's local dataset searched with local_only over Flight,
merged by hand). A put through a node whose shards it is primary of sends its peers only the
slices of the other shards and its own shards' replication (its put streams' slice count says
so): the slices for its own shards are stored in-process; every row is found once.

Timing is never asserted: counters are waited for with deadlines (wait_until).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.flight as flight
import pytest

from arbalest_util import action, make_table, put_table, scan, scrape, unique_name, wait_until
from test_cluster import DIM, cluster_status, node_id, search
from test_cluster_shards import SHARDS, shard_map, start_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("local_shards"))
    yield c
    c.stop()


def rpcs(node, method: str, action_type: str = "") -> float:
    """How many `method` RPCs (DoAction: of `action_type`) node's Flight service finished."""
    total = 0.0
    for (name, labels), count in scrape(node).items():
        labels = dict(labels)
        if (name == "arbalest_rpc_total" and labels.get("method") == method
                and labels.get("action", "") == action_type):
            total += count
    return total


def counted(nodes, method, action_type="") -> float:
    return sum(rpcs(n, method, action_type) for n in nodes)


def expect_rpcs(nodes, method, before, expected, action_type="", what=""):
    """Waits until `nodes` finished at least `expected` `method` RPCs since they had counted
    `before`, then checks that it is exactly that many."""
    wait_until(lambda: counted(nodes, method, action_type) - before,
               lambda extra: extra >= expected, what or f"{expected} {method} {action_type}")
    assert counted(nodes, method, action_type) - before == expected, (what, method, action_type)


def holders(placement) -> dict:
    """{shard: readable replicas} of a shard map from cluster-status."""
    return {s["shard"]: [r for r in s["replicas"] if r not in s["syncing"]]
            for s in placement["placement"]}


def expected_hops(c, placement, through):
    """Per node, the shard hops a request through node `through` makes: one per shard that
    `through` holds no readable replica of, to one of its replicas (any: the count summed)."""
    me = node_id(c.nodes[through])
    return sum(1 for replicas in holders(placement).values() if me not in replicas)


@pytest.fixture(scope="module")
def loaded(cluster):
    name = unique_name("local")
    table = make_table(400, d=DIM, rng=np.random.default_rng(11))
    put_table(cluster.nodes[0].data, name, table, batch_size=100)
    return name, table


def test_search_and_scan_ask_own_shards_in_process(cluster, loaded):
    name, table = loaded
    placement = shard_map(cluster.nodes[0], name)
    query = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    by_id = {node_id(n): n for n in cluster.nodes}
    # The hop path by hand: every shard's local dataset searched on one of its replicas over
    # Flight, merged by score (higher is nearer).
    parts = []
    for shard, replicas in holders(placement).items():
        part = search(by_id[replicas[0]], f"{name}.__shard{shard}", query, 10, local_only=True)
        parts += list(zip(part.column("score").to_pylist(), part.column("id").to_pylist()))
    best = sorted(parts, key=lambda p: (-p[0], p[1]))[:10]
    for through, node in enumerate(cluster.nodes):
        me = node_id(node)
        assert any(me in r for r in holders(placement).values())  # it holds some shard
        hops = expected_hops(cluster, placement, through)
        assert hops > 0  # and lacks one: those still hop

        others = [n for n in cluster.nodes if n is not node]
        mine, theirs = counted([node], "DoGet"), counted(others, "DoGet")
        result = search(node, name, query, 10)
        got = sorted(zip(result.column("score").to_pylist(), result.column("id").to_pylist()),
                     key=lambda p: (-p[0], p[1]))
        assert [i for _, i in got] == [i for _, i in best]
        assert np.allclose([s for s, _ in got], [s for s, _ in best], rtol=1e-6)
        # This node's DoGet: the client's alone; the peers answered the other shards.
        expect_rpcs(others, "DoGet", theirs, hops, what="the search's hops to the peers")
        expect_rpcs([node], "DoGet", mine, 1, what="the client's search alone")

        mine, theirs = counted([node], "DoGet"), counted(others, "DoGet")
        scanned = scan(node.data, {"dataset": name})
        assert sorted(scanned.column("id").to_pylist()) == sorted(table.column("id").to_pylist())
        expect_rpcs(others, "DoGet", theirs, hops, what="the scan's hops to the peers")
        expect_rpcs([node], "DoGet", mine, 1, what="the client's scan alone")


def test_stats_ask_own_shards_in_process(cluster, loaded):
    name, table = loaded
    placement = shard_map(cluster.nodes[0], name)
    for through, node in enumerate(cluster.nodes):
        others = [n for n in cluster.nodes if n is not node]
        mine, theirs = counted([node], "DoAction", "stats"), counted(others, "DoAction", "stats")
        stats = action(node.data, "stats", {"dataset": name})[0]
        assert stats["cluster"]["rows"] == table.num_rows
        hops = expected_hops(cluster, placement, through)
        expect_rpcs(others, "DoAction", theirs, hops, "stats", "the stats hops to the peers")
        expect_rpcs([node], "DoAction", mine, 1, "stats", "the client's stats call alone")


def test_put_slices_for_own_shards_are_stored_in_process(cluster):
    name = unique_name("local_put")
    schema_only = make_table(0, d=DIM)
    put_table(cluster.nodes[0].data, name, schema_only)  # creates the map
    placement = shard_map(cluster.nodes[0], name)
    primaries = {s["primary"] for s in placement["placement"]}
    through = next(i for i, n in enumerate(cluster.nodes) if node_id(n) in primaries)
    node = cluster.nodes[through]
    table = make_table(400, d=DIM, rng=np.random.default_rng(12))
    me = node_id(node)
    own = sum(1 for s in placement["placement"] if s["primary"] == me)
    sent = cluster_status(node)["put_streams"]["slices"]
    acks = put_table(node.data, name, table, batch_size=100)
    assert all(a["status"] == "acked" for a in acks)
    assert all(len(a["shards"]) == SHARDS for a in acks)  # every batch has rows in every shard
    # The slices this node sent to its peers (on its put streams): each batch's slices for the
    # shards it is not primary of, and the replication (R=2: one replica) of those it is; a
    # loopback hop for its own shards would add `own` more per batch.
    assert own >= 1
    assert cluster_status(node)["put_streams"]["slices"] - sent == len(acks) * SHARDS
    scanned = scan(cluster.nodes[(through + 1) % 3].data, {"dataset": name})
    assert sorted(scanned.column("id").to_pylist()) == sorted(table.column("id").to_pylist())
    ticket = {"search": {"dataset": name, "vector": [0.0] * DIM, "k": 5}}
    assert cluster.nodes[through].data.do_get(
        flight.Ticket(json.dumps(ticket).encode())).read_all().num_rows == 5
