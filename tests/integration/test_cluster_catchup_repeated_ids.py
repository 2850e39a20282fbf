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

from arbalest_util import ServerProcess, make_table, put_table, scan, unique_name
from catchup_race_util import put_during_catchup, start_nodes, with_vectors
from etcd_util import EtcdProcess
from test_cluster import DIM

ROWS = 2_000
BATCH = 250
START_DELAY_MS = 4_000


def rows_of(node, name) -> Counter:
    table = scan(node.data, {"dataset": f"{name}.__shard0", "local_only": True})
    ids = table.column("id").to_pylist()
    vectors = [tuple(v) for v in table.column("vector").to_pylist()]
    return Counter(zip(ids, vectors))


def test_rows_of_repeated_ids_put_before_the_bulk_pass_are_copied_exactly(tmp_path):
    etcd = EtcdProcess(tmp_path).start()
    nodes: dict[str, ServerProcess] = {}
    try:
        nodes = start_nodes(tmp_path, etcd, "repeated",
                            env={"ARBALEST_TEST_CATCHUP_START_DELAY_MS": str(START_DELAY_MS)})
        name = unique_name("repeated")
        table = make_table(ROWS, d=DIM, rng=np.random.default_rng(5))
        put_table(nodes["n0"].data, name, with_vectors(table, 1.0), batch_size=BATCH)
        # A second row of every id, put while the catch-up waits to count what it holds.
        roles, acked, caught_up = put_during_catchup(nodes, name, with_vectors(table, 2.0), BATCH)
        assert caught_up["compared_by"] == "content", caught_up
        on_primary = rows_of(nodes[roles.primary], name)
        on_joining = rows_of(nodes[roles.joining], name)
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
