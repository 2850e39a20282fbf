"""Server-assigned ids on sharded datasets, in a cluster of real processes: one etcd and three
`arbalest serve` nodes with fixed ids, 8 shards, replication factor 2 (docs/cluster.md,
"Server-assigned ids").

Rows put without an `id` column through any node get uint64 ids from the routing node's block
(its ack names the first: a batch's rows are numbered in order), unique across the cluster; each
row is found exactly once by scans and searches from every node, both replicas of its shard hold
it, and it is deletable by its id. A node SIGKILLed while id-less puts go on through another:
failover and catch-up keep every acked row exactly once; the node restarted on its data dir
takes a new block (no id handed out twice). Bad input: an `id` column in a put to a dataset that
numbers its rows, and a put without ids to a sharded dataset that has them, are refused, naming
the problem.

Timing is never asserted: membership and map changes are waited for with deadlines.
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import action, make_table, put_table, scan, unique_name, vectors_of, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, missing_nodes, search
from test_cluster_catchup import (CATCHUP_DEADLINE_S, SHARDS, local_ids, members, shard_map, start,
                                  wait_caught_up)


def acked_ids(acks) -> list[int]:
    """The ids the acks of one put stream name: each batch's rows numbered from its first_id."""
    ids = []
    for ack in acks:
        assert ack["status"] == "acked"
        ids += range(ack["first_id"], ack["first_id"] + ack["rows"])
    return ids


def put_without_ids(node, name, n, seed, batch_size=25):
    """Puts n id-less rows through `node`; the table put and the ids its acks assigned."""
    table = make_table(n, d=DIM, rng=np.random.default_rng(seed), with_ids=False)
    return table, acked_ids(put_table(node.data, name, table, batch_size=batch_size))


class IdlessPutter(threading.Thread):
    """Puts batches of id-less rows through `node` until stopped; the ids acked."""

    def __init__(self, node, name):
        super().__init__(daemon=True)
        self.node, self.name = node, name
        self.acked: list[int] = []
        self.failures = 0
        self.stop_event = threading.Event()

    def run(self):
        seed = 1000
        while not self.stop_event.is_set():
            seed += 1
            try:
                self.acked += put_without_ids(self.node, self.name, 20, seed)[1]
            except (flight.FlightError, pa.ArrowException):
                self.failures += 1  # a failed batch may be stored on some shards
            self.stop_event.wait(0.05)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def scanned_ids(node, name) -> list[int]:
    found = scan(node.data, {"dataset": name, "require_all": True})
    assert found.schema.field("id").type == pa.uint64()
    return found.column("id").to_pylist()


def test_assigned_ids_are_unique_found_once_survive_failover_and_delete(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("assigned")
        nodes = list(c.nodes.values())
        tables, assigned = [], []
        for i, node in enumerate(nodes):  # through every node: three blocks of ids
            table, ids = put_without_ids(node, name, 100, seed=i)
            tables.append(table)
            assigned += ids
        assert len(assigned) == len(set(assigned)) == 300
        assert shard_map(nodes[0], name)["ids"] == "assigned"

        # Found once from every node; each id's row is the one put (its vector).
        vectors = np.concatenate([vectors_of(t.column("vector")) for t in tables])
        for node in nodes:
            ids = scanned_ids(node, name)
            assert sorted(ids) == sorted(assigned)
            for row in (0, 150, 299):
                top = search(node, name, vectors[row], 5, require_all=True)
                assert missing_nodes(top) == []
                assert top.column("id").to_pylist()[0] == assigned[row]
        # Each shard's replicas hold the same ids; the shards split the rows.
        held = []
        for s in shard_map(nodes[0], name)["placement"]:
            copies = [local_ids(c.nodes[r], name, s["shard"]) for r in s["replicas"]]
            assert copies[0] == copies[1]
            held += copies[0]
        assert sorted(held) == sorted(assigned)

        # Bad input: ids sent to a dataset that numbers its rows; no ids to one that has them.
        with pytest.raises(pa.ArrowInvalid, match="numbers its rows itself"):
            put_table(nodes[1].data, name, make_table(5, d=DIM, id_type=pa.uint64()))
        with_ids = unique_name("withids")
        put_table(nodes[0].data, with_ids, make_table(10, d=DIM))
        with pytest.raises(pa.ArrowInvalid, match="missing column 'id' required by dataset"):
            put_table(nodes[2].data, with_ids, make_table(5, d=DIM, with_ids=False))
        assert sorted(scanned_ids(nodes[0], name)) == sorted(assigned)

        # Deletable by the scanned ids, through any node, on every replica.
        gone = scanned_ids(nodes[2], name)[:40]
        answer = action(nodes[1].data, "delete", {"dataset": name, "ids": gone})[0]
        assert answer["deleted"] == 40 and answer["missing_nodes"] == []
        kept = set(assigned) - set(gone)
        for node in nodes:
            assert sorted(scanned_ids(node, name)) == sorted(kept)
            for shard in range(SHARDS):
                assert not set(local_ids(node, name, shard) or []) & set(gone)

        # A node SIGKILLed while id-less puts go on through another: failover and catch-up.
        putter = IdlessPutter(c.nodes["n0"], name)
        putter.start()
        c.nodes["n2"].proc.kill()
        wait_caught_up(c.nodes["n0"], name, "n2")
        putter.stop()
        assert putter.acked
        acked = kept | set(putter.acked)
        for n in ("n0", "n1"):
            ids = scanned_ids(c.nodes[n], name)
            assert len(ids) == len(set(ids)), "a row found twice"
            assert acked <= set(ids)

        # Restarted on its data dir, the node numbers rows from a new block.
        c.nodes["n2"].start()
        wait_until(lambda: members(c.nodes["n2"]), lambda m: m == {"n0", "n1", "n2"},
                   "the restarted node joined", timeout=MEMBERSHIP_DEADLINE_S)

        def put_later():  # shards move back to it meanwhile: a put may meet an epoch change
            try:
                return put_without_ids(c.nodes["n2"], name, 50, seed=99)[1]
            except flight.FlightUnavailableError:
                return None

        later = wait_until(put_later, lambda ids: ids is not None, "a put through the restarted "
                           "node acked", timeout=CATCHUP_DEADLINE_S)
        assert not set(later) & (set(assigned) | set(putter.acked))
        ids = scanned_ids(c.nodes["n1"], name)
        assert len(ids) == len(set(ids)) and set(later) <= set(ids)
    finally:
        c.stop()
