"""Catch-up of a dataset whose ids repeat on purpose (no `unique_id`: a put of an id it holds adds
another row of it), with real processes: one etcd and three `arbalest serve` nodes, 1 shard,
replication factor 2 (docs/cluster.md, "Catch-up and shard moves").

The shard's replica that is not its primary is SIGKILLed; the third node becomes a syncing
replica, which takes the shard's writes at once, and its catch-up starts late
(ARBALEST_TEST_CATCHUP_START_DELAY_MS, as a catch-up queued behind another shard's does).
Meanwhile a client puts a second row of every id. The bulk pass skips one scanned row of an id
per row of it the node holds: holding the new row b of an id whose rows on the primary are
{a, b}, it skipped a and stored b again. Ids and counts agree (two rows each), so a comparison
of ids saw nothing, and the new replica lacked every acked row a: had the primary died next, they
were lost. The catch-up compares the copies by content, and the new replica must hold the
primary's rows exactly.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

from arbalest_util import (ServerProcess, make_table, put_table, scan, unique_name, vector_array,
                           wait_until)
from etcd_util import EtcdProcess
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S
from test_cluster_catchup import members, shard_map, status

LEASE_TTL_S = 2
ROWS = 2_000
BATCH = 250
START_DELAY_MS = 4_000
DEADLINE_S = MEMBERSHIP_DEADLINE_S + 120


def rows_of(node, name) -> Counter:
    table = scan(node.data, {"dataset": f"{name}.__shard0", "local_only": True})
    ids = table.column("id").to_pylist()
    vectors = [tuple(v) for v in table.column("vector").to_pylist()]
    return Counter(zip(ids, vectors))


def with_vectors(table: pa.Table, value: float) -> pa.Table:
    vectors = np.full((table.num_rows, DIM), value, dtype=np.float32)
    index = table.schema.get_field_index("vector")
    return table.set_column(index, "vector", vector_array(vectors))


def test_rows_of_repeated_ids_put_before_the_bulk_pass_are_copied_exactly(tmp_path):
    etcd = EtcdProcess(tmp_path).start()
    nodes: dict[str, ServerProcess] = {}
    try:
        for node_id in ("n0", "n1", "n2"):
            nodes[node_id] = ServerProcess(tmp_path / node_id, env={
                "ARBALEST_TEST_CATCHUP_START_DELAY_MS": str(START_DELAY_MS)}, extra_args=[
                "--cluster-etcd", etcd.url, "--cluster-name", "repeated", "--node-id", node_id,
                "--cluster-lease-ttl", str(LEASE_TTL_S), "--cluster-search-timeout", "10s",
                "--cluster-shards", "1"]).start()
        for node in nodes.values():
            wait_until(lambda: members(node), lambda m: len(m) == 3, "every member listed",
                       timeout=MEMBERSHIP_DEADLINE_S)
        name = unique_name("repeated")
        table = make_table(ROWS, d=DIM, rng=np.random.default_rng(5))
        put_table(nodes["n0"].data, name, with_vectors(table, 1.0), batch_size=BATCH)
        placement = shard_map(nodes["n0"], name)["placement"][0]
        primary = placement["primary"]
        victim = next(r for r in placement["replicas"] if r != primary)
        router = next(n for n in nodes if n != victim)
        joining = next(n for n in nodes if n not in placement["replicas"])

        nodes[victim].proc.kill()
        wait_until(lambda: status(nodes[joining]).get("catchup", {}).get("shards", []),
                   lambda states: any(s["dataset"] == name and s["state"] == "copying"
                                      for s in states),
                   "the joining replica's catch-up started", timeout=DEADLINE_S)
        # A second row of every id, put while the catch-up waits to count what it holds.
        acked = 0
        for start in range(0, ROWS, BATCH):
            try:
                put_table(nodes[router].data, name, with_vectors(table.slice(start, BATCH), 2.0))
                acked += BATCH
            except (flight.FlightError, pa.ArrowException):
                pass  # a put refused while the map changes: its ids are not checked
        assert acked >= ROWS // 2, acked
        done = wait_until(
            lambda: [s for s in status(nodes[joining])["catchup"]["shards"]
                     if s["dataset"] == name],
            lambda states: any(s["state"] == "caught_up" for s in states),
            "the joining replica caught up", timeout=DEADLINE_S)
        caught_up = next(s for s in done if s["state"] == "caught_up")
        print(f"catch-up: {caught_up}")
        assert caught_up["compared_by"] == "content", caught_up
        on_primary = rows_of(nodes[primary], name)
        on_joining = rows_of(nodes[joining], name)
        assert sum(on_primary.values()) == ROWS + acked
        assert sum(n for (_, v), n in on_primary.items() if v == (2.0,) * DIM) == acked
        missing = on_primary - on_joining
        extra = on_joining - on_primary
        assert not missing and not extra, (
            f"{sum(missing.values())} of the primary's rows missing on the new replica, "
            f"{sum(extra.values())} rows it holds too many: {list(missing)[:3]} {list(extra)[:3]}")
    finally:
        for node in nodes.values():
            node.stop()
        etcd.kill()
