"""A catch-up's reconcile by digests per bucket of ids (docs/cluster.md, "Catch-up and shard
moves"), with real processes: one etcd and three `arbalest serve` nodes, 2 shards, replication
factor 2, the bulk pass slowed by ARBALEST_TEST_CATCHUP_BULK_DELAY_MS as in
test_cluster_catchup_bulk.py.

A node is SIGKILLed; while a syncing replica copies one of its shards in bulk, the replica gets
rows the primary lacks (extra), rows of ids it is copying (each then held twice: duplicated)
and the primary gets rows the bulk pass may miss (missing here). Once the catch-up is done both
copies hold exactly the same rows, each once, and the comparison id by id read far fewer ids
than the shard holds, under the fences and before them: only those of the digest buckets that
differ (on main's whole-id-column comparison, `ids_compared` is every id of the shard). Bad
input: a shard-digest request for an unknown dataset, a shard the dataset does not have, or a
malformed body is refused with an error that names the problem; a good one's table counts the
node's rows of the shard.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import action, make_table, put_table, unique_name, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S
from test_cluster_catchup import local_ids, members, shard_map
from test_cluster_catchup_bulk import DEADLINE_S, ROWS, Cluster, catchups, shard_put


def ids_of(node, name, shard):
    return local_ids(node, name, shard) or []


def joined(tmp_path, count) -> Cluster:
    """Nodes n0, n1, ... that each list every one of them as members."""
    c = Cluster(tmp_path, unique_name("digest"))
    try:
        ids = [f"n{i}" for i in range(count)]
        for node_id in ids:
            c.add(node_id)
        wait_until(lambda: [len(members(c.nodes[n])) for n in ids],
                   lambda listed: listed == [count] * count, "every member listed everywhere",
                   timeout=MEMBERSHIP_DEADLINE_S)
        return c
    except BaseException:
        c.stop()
        raise


def test_a_catch_up_repairs_missing_extra_and_duplicated_rows_reading_few_ids(tmp_path):
    c = joined(tmp_path, 3)
    try:
        name = unique_name("rows")
        rows = make_table(ROWS, d=DIM, rng=np.random.default_rng(11))
        put_table(c.nodes["n0"].data, name, rows, batch_size=500)
        victim = "n2"
        moved = [s["shard"] for s in shard_map(c.nodes["n0"], name)["placement"]
                 if victim in s["replicas"]]
        assert moved
        c.nodes[victim].proc.kill()
        syncing = wait_until(
            lambda: shard_map(c.nodes["n0"], name)["placement"],
            lambda p: all(victim not in p[s]["replicas"] and p[s]["syncing"] for s in moved),
            "a syncing replica for every shard of the victim", timeout=DEADLINE_S)
        first = syncing[moved[0]]
        replica, primary = c.nodes[first["syncing"][0]], c.nodes[first["primary"]]
        shard_rows = ids_of(primary, name, moved[0])
        wait_until(lambda: catchups(replica, name),
                   lambda states: any(s["shard"] == moved[0] and s["state"] == "copying"
                                      for s in states),
                   "the bulk pass under way", timeout=DEADLINE_S)
        time.sleep(1)  # past the bulk pass's count of the ids this node holds
        # Missing here: rows only the primary gets while the bulk pass may have read past them.
        only_primary = make_table(10, d=DIM, start_id=6_000_000)
        # Extra here: rows the primary lacks.
        extra = make_table(10, d=DIM, start_id=5_000_000)
        # Duplicated here: rows of ids the bulk pass copies too (or copied already).
        twice = shard_rows[-10:]
        duplicates = make_table(10, d=DIM).set_column(0, "id", pa.array(twice, pa.int64()))
        for node, table in ((primary, only_primary), (replica, extra), (replica, duplicates)):
            shard_put(node, name, moved[0], first["epoch"], table)

        done = wait_until(
            lambda: [s for s in catchups(replica, name) if s["shard"] == moved[0]],
            lambda states: states and states[0]["state"] == "caught_up",
            "the catch-up of the shard done", timeout=DEADLINE_S)[0]
        wait_until(lambda: [s["syncing"] for s in shard_map(c.nodes["n0"], name)["placement"]],
                   lambda syncing: not any(syncing), "no shard syncing any more",
                   timeout=DEADLINE_S)
        print(f"catch-up: {done}")
        held = len(shard_rows) + 10
        # The fenced comparison read only the ids of the buckets that differ, not the shard's
        # (main's compares every id: ids_compared == the shard's ids).
        assert done["ids_compared"] < held / 10, done
        fenced, before = done["reconcile_fenced"], done["reconcile_before_fences"]
        assert fenced["buckets"] == before["buckets"] == 4096
        assert fenced["ids_read"] < held / 10, done
        assert done["ids_read_fenced"] == fenced["ids_read"]
        # Both tables under the fences came from the hashes each node kept since its table
        # before them: only the rows stored since were hashed.
        for side in ("source_table_cache", "own_table_cache"):
            assert fenced[side]["rows_reused"] > held / 2, (side, fenced)
            assert fenced[side]["rows_hashed"] < held / 10, (side, fenced)
        # The differences were repaired, before the fences or under them, by the ids of the
        # buckets they fall in: at most 30 buckets (and the rows the bulk pass stored twice).
        assert 1 <= before["buckets_differ"] + fenced["buckets_differ"]
        assert before["ids_read"] + fenced["ids_read"] < held / 10, done
        # Every extra id and every duplicated one had rows of this node's removed.
        assert done["rows_removed"] >= 20, done

        # Both copies hold exactly the same rows, each once.
        for s in moved:
            placement = shard_map(c.nodes["n0"], name)["placement"][s]
            copies = [ids_of(c.nodes[n], name, s) for n in placement["replicas"]]
            assert copies[0] == copies[1], (s, sorted(set(copies[0]) ^ set(copies[1]))[:10])
            assert max(Counter(copies[0]).values()) == 1, "a row held twice"
        mine = ids_of(replica, name, moved[0])
        assert mine == ids_of(primary, name, moved[0])
        assert not set(extra.column("id").to_pylist()) & set(mine)
        assert set(only_primary.column("id").to_pylist()) <= set(mine)
        assert set(twice) <= set(mine)
        assert len(mine) == len(shard_rows) + 10
    finally:
        c.stop()


def test_a_shard_digest_request_counts_the_copy_and_bad_ones_are_refused(tmp_path):
    c = joined(tmp_path, 2)
    try:
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name, make_table(500, d=DIM), batch_size=100)
        primary = c.nodes[shard_map(c.nodes["n0"], name)["placement"][1]["primary"]]
        node = primary.data
        table = action(node, "shard-digest", {"dataset": name, "shard": 1, "local_only": True})[0]
        assert table["buckets"] == 4096 and table["type"] == "int64"
        assert sum(table["counts"]) == table["rows"] == len(ids_of(primary, name, 1)) > 0
        small = action(node, "shard-digest", {"dataset": name, "shard": 1, "buckets": 4})[0]
        assert len(small["sums"]) == len(small["counts"]) == 4
        listed = action(node, "shard-digest", {"dataset": name, "shard": 1, "buckets": 4,
                                               "ids_of": [0, 1, 2, 3]})[0]
        assert sorted(listed["ids"]) == ids_of(primary, name, 1)

        refused = [
            ({"dataset": "no-such-dataset", "shard": 0}, "'no-such-dataset' is not a sharded"),
            ({"dataset": name, "shard": 2}, "has no shard 2 (its shards: 0 to 1)"),
            ({"dataset": name, "shard": -1}, "shard must be >= 0"),
            ({"dataset": name}, "needs dataset (a string) and shard"),
            ({"dataset": name, "shard": 0, "buckets": 0}, "buckets must be in [1, 1048576]"),
            ({"dataset": name, "shard": 0, "ids_of": [9999]}, "not a bucket in [0, 4096)"),
            ("not json", "shard-digest"),
        ]
        for body, message in refused:
            with pytest.raises(pa.ArrowInvalid) as e:
                action(node, "shard-digest", body)
            assert message in str(e.value), (body, str(e.value))
    finally:
        c.stop()
