"""Catch-up of a dataset whose ids are unique (schema option `unique_id`: a put of an id it holds
replaces that row), with real processes: one etcd and three `arbalest serve` nodes, 1 shard,
replication factor 2, segments sealed every 2,000 rows or so (docs/cluster.md, "Catch-up and
shard moves").

The shard's replica that is not its primary is SIGKILLed; the third node becomes a syncing
replica and copies the shard in bulk: it adopts the primary's sealed segments with their graphs,
then reads the rows after them, slowly (ARBALEST_TEST_CATCHUP_BULK_DELAY_MS), from a scan that
reads the primary's rows as they were when it began. Meanwhile a client puts every id again with
a new vector. Each put reaches the syncing replica too, often before the segment or the scanned
row of the same id does. An adopted row of an id held is deleted at adoption (the held row is
newer), and the id map names the held row; a scanned row of an id held is left out (stored as
an ordinary put, it would replace the newer row, which a comparison of ids alone cannot see:
each copy holds the id once). The catch-up compares the copies by content, which finds only
rows of puts the primary applied and this node did not (never acked). Afterwards both replicas
must hold, for every id, the vector of its last acked put, each id once, and a put of every id
again must replace it on both (the id maps name the live rows; restarts of such a copy:
tests/store/segment_adopt_test.cc).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from arbalest_util import ServerProcess, action, make_table, put_table, scan, unique_name
from catchup_race_util import put_during_catchup, start_nodes, with_vectors
from etcd_util import EtcdProcess
from test_cluster import DIM
from test_cluster_catchup import shard_map

ROWS = 6_000
SEGMENT_ROWS = 2_000
BATCH = 300          # rows per put, and per batch the bulk pass's scan reads
BULK_DELAY_MS = 200  # per batch the bulk pass reads: about 4 s for the shard
UNIQUE = {"longbow.unique_id": "true"}


def rows_by_id(node, name, shard) -> dict[int, tuple]:
    table = scan(node.data, {"dataset": f"{name}.__shard{shard}", "local_only": True})
    ids = table.column("id").to_pylist()
    vectors = [tuple(v) for v in table.column("vector").to_pylist()]
    assert len(ids) == len(set(ids)), "an id held twice in a dataset whose ids are unique"
    return dict(zip(ids, vectors))


def unique_with_vectors(table: pa.Table, value: float) -> pa.Table:
    return with_vectors(table, value).replace_schema_metadata(UNIQUE)


def test_puts_that_replace_rows_during_a_bulk_copy_are_not_undone_by_it(tmp_path):
    etcd = EtcdProcess(tmp_path).start()
    nodes: dict[str, ServerProcess] = {}
    try:
        nodes = start_nodes(tmp_path, etcd, "upserts",
                            env={"ARBALEST_TEST_CATCHUP_BULK_DELAY_MS": str(BULK_DELAY_MS)},
                            extra_args=["--segment-max-bytes", str(SEGMENT_ROWS * DIM * 4),
                                        "--segment-merge=false"])
        name = unique_name("upserted")
        table = make_table(ROWS, d=DIM, rng=np.random.default_rng(11))
        put_table(nodes["n0"].data, name, unique_with_vectors(table, 1.0), batch_size=BATCH)
        placement = shard_map(nodes["n0"], name)["placement"][0]
        for replica in placement["replicas"]:  # sealed segments are adopted once all is linked
            ready = action(nodes[replica].data, "check_readiness",
                           {"dataset": f"{name}.__shard0", "local_only": True, "wait": 60})[0]
            assert ready["status"] == "READY", ready
        # Every id put again, with a new vector, while the scan still streams the old ones.
        roles, acked, caught_up = put_during_catchup(nodes, name,
                                                     unique_with_vectors(table, 2.0), BATCH)
        assert caught_up["compared_by"] == "content", caught_up
        assert caught_up["segments_adopted"] >= 2, caught_up  # ids unique: adopted all the same
        assert caught_up["rows_scanned"] > 0, caught_up
        # The scan's rows of ids put meanwhile were left out, not stored and replaced again:
        # what the reconciles replace is at most the rows of puts that were not acked.
        assert caught_up["scan"]["rows_kept"] > 0, caught_up
        replaced = (caught_up["reconcile_before_fences"]["ids_replaced"]
                    + caught_up["reconcile_fenced"]["ids_replaced"])
        assert replaced <= ROWS - acked, (replaced, acked, caught_up)
        # Both replicas: the same rows, every id with the vector of its last put.
        on_primary = rows_by_id(nodes[roles.primary], name, 0)
        on_joining = rows_by_id(nodes[roles.joining], name, 0)
        assert set(on_primary) == set(range(ROWS))
        stale = sorted(i for i, v in on_joining.items() if v != on_primary.get(i))
        assert on_joining.keys() == on_primary.keys()
        assert stale == [], f"{len(stale)} ids hold another vector than the primary's: {stale[:10]}"
        renewed = sum(v == (2.0,) * DIM for v in on_primary.values())
        assert renewed >= acked, (renewed, acked)
        # Its id map names each id's live row: a put of every id replaces it, on both replicas.
        put_table(nodes[roles.router].data, name, unique_with_vectors(table, 3.0), batch_size=BATCH)
        for node in (nodes[roles.primary], nodes[roles.joining]):
            assert set(rows_by_id(node, name, 0).values()) == {(3.0,) * DIM}
    finally:
        for node in nodes.values():
            node.stop()
        etcd.kill()
