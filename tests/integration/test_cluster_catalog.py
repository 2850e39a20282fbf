"""ListFlights, GetFlightInfo and GetSchema over a cluster of real processes (one etcd, three
`arbalest serve` nodes; docs/cluster.md, "Catalog").

A sharded dataset is listed once, under its own name, from every node, with the rows of one
readable replica of each shard (never the replicas summed, never its shards' local datasets);
its FlightInfo's ticket scans every row; GetSchema answers on nodes that hold none of its
shards' rows. An unsharded dataset is summed over the members holding it. `local_only` lists a
node's own datasets (what the hops ask). After a SIGKILL the survivors still count every row
from the other replicas. Bad criteria are refused by name.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import action, make_table, put_table, unique_name
from test_cluster import DIM, Cluster, node_id, wait_for_members
from test_cluster_local_shards import counted, expect_rpcs
from test_cluster_shards import SHARDS, shard_map, start_cluster, with_metadata

ROWS_PER_NODE = 150


def listing(node, criteria=None) -> dict:
    raw = b"" if criteria is None else json.dumps(criteria).encode()
    return {info.descriptor.path[0].decode(): info for info in node.data.list_flights(raw)}


def metadata_of(info) -> dict:
    return json.loads(info.app_metadata)


def put_through_each_node(nodes, name, **schema_metadata):
    ids = []
    for i, node in enumerate(nodes):
        table = make_table(ROWS_PER_NODE, d=DIM, start_id=i * 10_000,
                           rng=np.random.default_rng(40 + i))
        if schema_metadata:
            table = with_metadata(table, **schema_metadata)
        put_table(node.data, name, table, batch_size=50)
        ids += table.column("id").to_pylist()
    return sorted(ids)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("catalog"))
    yield c
    c.stop()


def test_sharded_dataset_is_listed_once_with_every_row_from_every_node(sharded):
    name = unique_name("cat")
    ids = put_through_each_node(sharded.nodes, name)
    for node in sharded.nodes:
        listed = listing(node, {"name": name})
        assert set(listed) == {name}, f"{node_id(node)} listed {set(listed)}"
        info = listed[name]
        assert info.total_records == len(ids)  # one replica per shard, not R of them
        meta = metadata_of(info)
        assert meta["dim"] == DIM and meta["shards"] == SHARDS
        assert len(meta["replicas"]) == SHARDS and "missing_shards" not in meta
        assert sum(r["rows"] for r in meta["replicas"]) == len(ids)
        # The listing without criteria holds no shard's local dataset.
        assert not [n for n in listing(node) if ".__shard" in n]
        # GetFlightInfo and its ticket: every row, from any node.
        got = node.data.get_flight_info(flight.FlightDescriptor.for_path(name))
        assert got.total_records == len(ids)
        scanned = node.data.do_get(got.endpoints[0].ticket).read_all()
        assert sorted(scanned.column("id").to_pylist()) == ids
        schema = node.data.get_schema(flight.FlightDescriptor.for_path(name)).schema
        assert schema.field("vector").type == pa.list_(pa.float32(), DIM)
        assert got.schema.equals(schema)


def test_stats_without_a_dataset_count_each_sharded_row_once(sharded):
    name = unique_name("totals")
    ids = put_through_each_node(sharded.nodes, name)
    for node in sharded.nodes:
        document = action(node.data, "stats")[0]
        cluster = document["cluster"]
        logical = {d["dataset"]: d for d in cluster["datasets"]}
        assert logical[name]["rows"] == len(ids)
        assert not [d for d in logical if ".__shard" in d]
        assert cluster["total_rows"] == sum(d["rows"] for d in logical.values())
        # Each member's own totals (replicas included) stay in "nodes".
        stored = sum(n["total_rows"] for n in cluster["nodes"])
        assert stored == sum(info.total_records for n in sharded.nodes
                             for info in listing(n, {"local_only": True}).values())
        assert cluster["missing_nodes"] == []
    # One fan-out serves both: the catalog's listings, no stats action asked of any peer.
    first, peers = sharded.nodes[0], sharded.nodes[1:]
    stats_before = counted(peers, "DoAction", "stats")
    listings_before = counted(peers, "ListFlights")
    action(first.data, "stats")
    expect_rpcs(peers, "ListFlights", listings_before, len(peers), what="stats' listings")
    assert counted(peers, "DoAction", "stats") == stats_before


def test_local_only_lists_a_nodes_own_shard_datasets(sharded):
    name = unique_name("own")
    ids = put_through_each_node(sharded.nodes, name)
    replication = shard_map(sharded.nodes[0], name)["replication"]
    held = 0
    for node in sharded.nodes:
        own = listing(node, {"name": name, "local_only": True})
        assert name not in own
        assert all(n.startswith(f"{name}.__shard") for n in own)
        held += sum(info.total_records for info in own.values())
    assert held == replication * len(ids)  # every replica holds its shard's rows


def test_criteria_filter_the_logical_datasets(sharded):
    big, small = unique_name("big"), unique_name("small")
    put_through_each_node(sharded.nodes, big)
    put_table(sharded.nodes[1].data, small, make_table(20, d=DIM))
    prefix = big.rsplit("-", 1)[0] if "-" in big else big[:3]
    for node in sharded.nodes:
        both = listing(node, {"filters": [{"field": "name", "op": "in",
                                           "value": [big, small]}]})
        assert set(both) == {big, small}
        over = listing(node, {"filters": [{"field": "name", "op": "in", "value": [big, small]},
                                          {"field": "rows", "op": ">", "value": 100}]})
        assert set(over) == {big}
        assert listing(node, {"name": prefix + "-no-such"}) == {}


def test_bad_criteria_and_unknown_datasets_are_refused_by_name(sharded):
    node = sharded.nodes[2]
    with pytest.raises(pa.ArrowInvalid, match="'local_only' in ListFlights criteria"):
        listing(node, {"local_only": "yes"})
    with pytest.raises(pa.ArrowInvalid, match="'timeout_ms' in ListFlights criteria"):
        listing(node, {"timeout_ms": 0})
    with pytest.raises(pa.ArrowInvalid, match="unknown key 'shard'|'shard'"):
        listing(node, {"shard": 1})
    missing = unique_name("nobody")
    with pytest.raises(pa.ArrowKeyError, match=f"dataset '{missing}' not found"):
        node.data.get_flight_info(flight.FlightDescriptor.for_path(missing))
    with pytest.raises(pa.ArrowKeyError, match=f"dataset '{missing}' not found"):
        node.data.get_schema(flight.FlightDescriptor.for_path(missing))


def test_unsharded_dataset_sums_its_members(tmp_path):
    c = Cluster(tmp_path, unique_name("plain"))  # --cluster-shards 0: each node keeps its rows
    try:
        for i in range(3):
            c.add_node(i)
        wait_for_members(c.nodes, {node_id(n) for n in c.nodes}, "all three members listed")
        name = unique_name("plain")
        ids = put_through_each_node(c.nodes, name)
        for node in c.nodes:
            info = listing(node, {"name": name})[name]
            assert info.total_records == len(ids)
            nodes = metadata_of(info)["nodes"]
            assert sorted(n["node"] for n in nodes) == sorted(node_id(n) for n in c.nodes)
            assert all(n["rows"] == ROWS_PER_NODE for n in nodes)
            assert listing(node, {"name": name, "local_only": True})[name].total_records == \
                ROWS_PER_NODE
    finally:
        c.stop()


def test_survivors_count_every_row_after_a_sigkill(tmp_path):
    c = start_cluster(tmp_path, lease_ttl_s=3)
    try:
        name = unique_name("kill")
        ids = put_through_each_node(c.nodes, name, shards=8)
        victim, survivors = c.nodes[0], c.nodes[1:]
        victim.proc.kill()
        # At once (the victim may still be a member) and after it left: the other replica of
        # each of its shards answers.
        for node in survivors:
            info = listing(node, {"name": name})[name]
            assert info.total_records == len(ids)
            assert "missing_shards" not in metadata_of(info)
        wait_for_members(survivors, {node_id(n) for n in survivors}, "the victim gone")
        for node in survivors:
            assert listing(node, {"name": name})[name].total_records == len(ids)
            got = node.data.get_flight_info(flight.FlightDescriptor.for_path(name))
            assert got.total_records == len(ids)
    finally:
        c.stop()


def test_shards_without_a_live_replica_are_named_or_refused_with_require_all(tmp_path):
    c = start_cluster(tmp_path, lease_ttl_s=3)
    try:
        name = unique_name("lone")
        put_through_each_node(c.nodes, name, shards=8, replication=1)
        by_id = {node_id(n): n for n in c.nodes}
        victim_id = shard_map(c.nodes[0], name)["placement"][0]["primary"]
        victim = by_id[victim_id]
        survivors = [n for n in c.nodes if n is not victim]
        victim.proc.kill()
        wait_for_members(survivors, {node_id(n) for n in survivors}, "the victim gone")
        info = listing(survivors[0], {"name": name})[name]
        missing = metadata_of(info)["missing_shards"]
        assert 0 in {m["shard"] for m in missing}
        assert info.total_records < 3 * ROWS_PER_NODE
        with pytest.raises(flight.FlightUnavailableError,
                           match=f"require_all: shard 0 of '{name}': no readable replica"):
            listing(survivors[0], {"name": name, "require_all": True})
    finally:
        c.stop()
