"""Sharded datasets in a cluster of real processes: one etcd and three `arbalest serve` nodes,
replication factor 2 (docs/cluster.md).

Puts through any node land on their shards' replicas (each node's local shard datasets are
checked); every acked row is found exactly once by scans and searches from every node; deletes
reach every replica; the shard map in etcd is what cluster-status shows. A node SIGKILLed:
every acked row stays searchable from the others, a put to one of its shards fails with
UNAVAILABLE naming the shard until its lease expires, then (without waiting for a put) a
surviving replica becomes primary (the epoch bumps, and a put with the old epoch is refused)
and puts work again. Bad input: puts
without ids, bad shard metadata, a dataset no node holds, a shard with no live replica under
require_all.

Timing is never asserted: membership changes are waited for with deadlines (wait_until).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import action, make_table, put_table, scan, unique_name, vectors_of, wait_until
from test_cluster import (DIM, MEMBERSHIP_DEADLINE_S, Cluster, brute_force_ids, cluster_status,
                          missing_nodes, node_id, search, search_by_id,
                          wait_for_members)

SHARDS = 4


def start_cluster(tmp_path, lease_ttl_s=2) -> Cluster:
    c = Cluster(tmp_path, unique_name("shards"), lease_ttl_s=lease_ttl_s, shards=SHARDS)
    for i in range(3):
        c.add_node(i)
    wait_for_members(c.nodes, {node_id(n) for n in c.nodes}, "all three members listed")
    return c


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("sharded"))
    yield c
    c.stop()


def shard_map(node, name) -> dict:
    maps = {m["dataset"]: m for m in cluster_status(node)["shard_maps"]}
    return maps[name]


def local_ids(node, name, shard):
    """The ids node holds in its local dataset of `shard`, or None when it has none."""
    try:
        table = scan(node.data, {"dataset": f"{name}.__shard{shard}", "local_only": True})
    except pa.ArrowKeyError:
        return None
    return table.column("id").to_pylist()


def with_metadata(table: pa.Table, **metadata) -> pa.Table:
    return table.replace_schema_metadata({f"arbalest.{k}": str(v) for k, v in metadata.items()})


def ids_of(tables) -> list:
    return sorted(i for t in tables for i in t.column("id").to_pylist())


@pytest.fixture(scope="module")
def loaded(sharded):
    """Rows put through each node in turn (disjoint ids), several batches each."""
    name = unique_name("routed")
    tables, acks = [], []
    for i, node in enumerate(sharded.nodes):
        table = make_table(200, d=DIM, start_id=i * 10_000, rng=np.random.default_rng(7 + i))
        acks.append(put_table(node.data, name, table, batch_size=50))
        tables.append(table)
    return name, tables, acks


def test_puts_through_any_node_land_on_each_shards_replicas(sharded, loaded):
    name, tables, acks = loaded
    for node_acks in acks:
        assert len(node_acks) == 4
        for ack in node_acks:
            assert ack["status"] == "acked" and ack["rows"] == 50
            assert sum(ack["shards"].values()) == 50

    members = {node_id(n) for n in sharded.nodes}
    placement = shard_map(sharded.nodes[0], name)
    assert placement["shards"] == SHARDS and placement["replication"] == 2
    for node in sharded.nodes[1:]:  # every node shows the one map in etcd
        assert shard_map(node, name) == placement
    by_id = {node_id(n): n for n in sharded.nodes}
    held = []
    for shard in placement["placement"]:
        replicas = shard["replicas"]
        assert len(set(replicas)) == 2 and set(replicas) <= members
        assert shard["primary"] in replicas and shard["epoch"] == 1 and shard["syncing"] == []
        # Both replicas hold the same rows of the shard; the third node holds none of them.
        ids = [sorted(local_ids(by_id[r], name, shard["shard"])) for r in replicas]
        assert ids[0] == ids[1] and ids[0]
        (other,) = members - set(replicas)
        assert local_ids(by_id[other], name, shard["shard"]) is None
        held += ids[0]
    # The shards split the rows: each row in exactly one shard.
    assert sorted(held) == ids_of(tables)


def test_every_acked_row_is_found_once_from_every_node(sharded, loaded):
    name, tables, _ = loaded
    expected = ids_of(tables)
    ids = np.concatenate([t.column("id").to_numpy() for t in tables])
    vectors = np.concatenate([vectors_of(t.column("vector")) for t in tables])
    query = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    for node in sharded.nodes:
        scanned = scan(node.data, {"dataset": name})
        assert sorted(scanned.column("id").to_pylist()) == expected  # R=2, each row once
        assert scan(node.data, {"dataset": name, "limit": 50}).num_rows == 50
        found = search(node, name, query, 10)
        assert missing_nodes(found) == []
        assert found.column("id").to_pylist() == brute_force_ids(ids, vectors, query, 10)
        stats = action(node.data, "stats", {"dataset": name})[0]
        assert stats["cluster"]["rows"] == len(expected)
        assert stats["cluster"]["missing_nodes"] == []
        # Readiness: every replica of every shard.
        ready = action(node.data, "check_readiness", {"dataset": name, "wait": 60})[0]
        assert ready["status"] == "READY" and len(ready["nodes"]) == 2 * SHARDS
        assert ready["missing_nodes"] == []
        # By id: the row's vector read from its shard, the neighbours from every shard.
        row = 7
        others = ids != ids[row]
        answer = search_by_id(node, name, int(ids[row]), 10)
        assert answer["ids"] == brute_force_ids(ids[others], vectors[others], vectors[row], 10)


def test_delete_reaches_every_replica(sharded):
    name = unique_name("delete")
    put_table(sharded.nodes[0].data, name, make_table(100, d=DIM))
    answer = action(sharded.nodes[1].data, "delete", {"dataset": name, "ids": list(range(10))})[0]
    assert answer["deleted"] == 10 and answer["missing_nodes"] == []
    for node in sharded.nodes:
        for shard in range(SHARDS):
            held = local_ids(node, name, shard)
            assert held is None or not set(held) & set(range(10))
        assert sorted(scan(node.data, {"dataset": name}).column("id").to_pylist()) == \
            list(range(10, 100))


def test_schema_metadata_sets_shards_and_replication(sharded):
    name = unique_name("meta")
    put_table(sharded.nodes[2].data, name,
              with_metadata(make_table(40, d=DIM), shards=2, replication=1))
    placement = shard_map(sharded.nodes[0], name)
    assert placement["shards"] == 2 and placement["replication"] == 1
    assert all(len(s["replicas"]) == 1 for s in placement["placement"])
    assert scan(sharded.nodes[0].data, {"dataset": name}).num_rows == 40


def test_bad_puts_and_unknown_datasets_are_refused_clearly(sharded, loaded):
    name, tables, _ = loaded
    node = sharded.nodes[1]
    with pytest.raises(pa.ArrowInvalid,
                       match="missing column .id. required by dataset"):
        put_table(node.data, name, make_table(5, d=DIM, with_ids=False))
    bad = unique_name("badmeta")
    with pytest.raises(pa.ArrowInvalid, match="'arbalest.shards' must be an integer in"):
        put_table(node.data, bad, with_metadata(make_table(5, d=DIM), shards=0))
    assert bad not in {m["dataset"] for m in cluster_status(node)["shard_maps"]}
    # Rows that do not fit the dataset (another width) are refused, naming the shard.
    with pytest.raises(pa.ArrowInvalid, match="shard [0-9]+ of"):
        put_table(node.data, name, make_table(5, d=DIM + 1, start_id=90_000))
    assert scan(node.data, {"dataset": name}).num_rows == sum(t.num_rows for t in tables)
    with pytest.raises(pa.ArrowKeyError, match="not found"):
        search(node, unique_name("nobody"), np.zeros(DIM), 5)
    with pytest.raises(pa.ArrowInvalid, match="are reserved for the shards"):
        put_table(node.data, f"{name}.__shard0", make_table(5, d=DIM))


def test_schema_only_put_declares_every_shard(sharded):
    name = unique_name("declared")
    put_table(sharded.nodes[0].data, name, make_table(0, d=DIM))
    placement = shard_map(sharded.nodes[1], name)
    by_id = {node_id(n): n for n in sharded.nodes}
    for shard in placement["placement"]:
        for replica in shard["replicas"]:
            assert local_ids(by_id[replica], name, shard["shard"]) == []
    empty = search(sharded.nodes[2], name, np.zeros(DIM), 5)
    assert empty.num_rows == 0 and missing_nodes(empty) == []


def put_hop(node, name, shard, epoch, role="primary"):
    """A shard put as a primary (or, with role "replica", a replica) receives it from another
    node."""
    hop = {"shard_put": {"dataset": name, "shard": shard, "epoch": epoch, "role": role}}
    table = make_table(1, d=DIM, start_id=99_999)
    return put_table(node.data, name, table,
                     descriptor=flight.FlightDescriptor.for_command(json.dumps(hop)))


def test_sigkill_keeps_acked_rows_searchable_and_puts_resume_after_failover(tmp_path):
    c = start_cluster(tmp_path, lease_ttl_s=3)
    try:
        by_id = {node_id(n): n for n in c.nodes}
        name = unique_name("failover")
        acked = make_table(300, d=DIM, rng=np.random.default_rng(11))
        put_table(c.nodes[0].data, name, with_metadata(acked, shards=16), batch_size=100)
        single = unique_name("single")  # one replica per shard: a dead node's shards are lost
        put_table(c.nodes[0].data, single,
                  with_metadata(make_table(100, d=DIM), shards=8, replication=1))
        before = shard_map(c.nodes[0], name)
        victim_id = shard_map(c.nodes[0], single)["placement"][0]["primary"]
        victim = by_id[victim_id]
        survivors = [n for n in c.nodes if n is not victim]
        victim.proc.kill()

        # Every acked row is still found, once, from the survivors (the other replica answers).
        for node in survivors:
            assert sorted(scan(node.data, {"dataset": name}).column("id").to_pylist()) == \
                list(range(300))
        # Until its lease expires the victim is still a member: a put to a shard whose primary
        # it is fails, naming the shard.
        refused = make_table(200, d=DIM, start_id=20_000)
        if victim_id in {m["node_id"] for m in cluster_status(survivors[0])["members"]}:
            with pytest.raises(flight.FlightUnavailableError, match=f"shard [0-9]+ of '{name}'"):
                put_table(survivors[0].data, name, refused)
        # A shard with no live replica is named missing, or is an error with require_all.
        found = scan(survivors[0].data, {"dataset": single})
        missing = json.loads(found.schema.metadata[b"arbalest.missing_shards"])
        assert 0 in {m["shard"] for m in missing}
        with pytest.raises(flight.FlightUnavailableError, match=f"require_all: shard 0 of "
                                                                f"'{single}'"):
            scan(survivors[0].data, {"dataset": single, "require_all": True})
        stats = action(survivors[0].data, "stats", {"dataset": single})[0]["cluster"]
        assert 0 in {m["shard"] for m in stats["missing_shards"]}
        assert stats["rows"] < 100  # the shards that answered

        wait_for_members(survivors, {node_id(n) for n in survivors}, "the victim gone")
        # Failover once its lease expired, without waiting for a put: no shard names it.
        after = wait_until(lambda: shard_map(survivors[0], name),
                           lambda m: all(victim_id not in s["replicas"] for s in m["placement"]),
                           "the shard map repaired", timeout=MEMBERSHIP_DEADLINE_S)
        # Puts through either survivor work again, W=2 met by the survivor and a replica added
        # for the shard's new rows.
        fresh = make_table(300, d=DIM, start_id=10_000, rng=np.random.default_rng(12))
        put_table(survivors[1].data, name, fresh, batch_size=100)
        promoted = 0
        for was, now in zip(before["placement"], after["placement"]):
            if victim_id not in was["replicas"]:
                continue
            assert now["epoch"] > was["epoch"] and victim_id not in now["replicas"]
            assert now["primary"] in was["replicas"]
            promoted += was["primary"] == victim_id
            # The old epoch is refused by the new primary.
            with pytest.raises(pa.ArrowInvalid, match="stale epoch"):
                put_hop(by_id[now["primary"]], name, now["shard"], was["epoch"])
        assert promoted > 0
        expected = set(range(300)) | set(range(10_000, 10_300))
        for node in survivors:
            ids = scan(node.data, {"dataset": name}).column("id").to_pylist()
            assert len(ids) == len(set(ids))  # each row once
            assert expected <= set(ids)       # every acked row
            assert set(ids) - expected <= set(range(20_000, 20_200))  # the refused put's, at most
            top = search(node, name, vectors_of(fresh.column("vector"))[5], 1)
            assert top.column("id").to_pylist() == [10_005]
    finally:
        c.stop()
