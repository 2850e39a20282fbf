"""A node that comes back on its data dir keeps its shard copies and catches each up from its
primary by content digests (docs/cluster.md, "A returning node"), in a cluster of real
processes: one etcd and three `arbalest serve` nodes, replication factor 2.

A node snapshots (so that its restart restores its graphs) and is SIGKILLed; once its shards
failed over, some rows are deleted, some deleted and put again with the same id and another
vector (same ids, same count: only a digest that sees the rows' contents finds them), and new
rows are put. The node comes back: it keeps its copies
(cluster-status `kept`), moves give it back shards it held, and each catch-up reconciles only
the buckets whose content digests differ: the rows it copies are few (the changed ones), not
the shard's. Afterwards every replica of every shard holds exactly the primary's rows (ids,
vectors and every other column), and a scan and searches through every node find each row once,
re-put rows with their new vectors. A node that comes back without a snapshot drops its copies
before it joins instead (indexing them again would take longer than copying afresh).

Timing is never asserted: membership and map changes are waited for with deadlines.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import action, make_table, put_table, scan, unique_name, vectors_of, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, missing_nodes, search
from test_cluster_catchup import (CATCHUP_DEADLINE_S, balanced, shard_map, snapshot_indexed,
                                  start, status, wait_caught_up)

ROWS = 8000
CHANGED = 40  # of each kind: deleted, put again with another vector, new


def local_rows(node, name, shard) -> pa.Table:
    table = scan(node.data, {"dataset": f"{name}.__shard{shard}", "local_only": True})
    return table.select(sorted(table.column_names)).sort_by("id")


def shards_held(node, name, member) -> set:
    """The shards of dataset `name` whose replicas include `member`, by `node`'s map (never
    none)."""
    held = {s["shard"] for s in shard_map(node, name)["placement"] if member in s["replicas"]}
    assert held
    return held


def assert_replicas_equal(c, name, placement):
    """Every replica of every shard holds exactly its primary's rows: ids, vectors, every
    column."""
    for s in placement:
        primary = local_rows(c.nodes[s["primary"]], name, s["shard"])
        for replica in s["replicas"]:
            assert local_rows(c.nodes[replica], name, s["shard"]).equals(primary), \
                (replica, s["shard"])


def test_a_returning_node_keeps_its_copies_and_copies_only_the_rows_that_changed(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("return")
        first = make_table(ROWS, d=DIM, rng=np.random.default_rng(3))
        put_table(c.nodes["n0"].data, name, first, batch_size=2000)
        victim = "n2"
        held_before = shards_held(c.nodes["n0"], name, victim)
        snapshot_indexed(c.nodes[victim])
        c.nodes[victim].proc.kill()
        wait_caught_up(c.nodes["n0"], name, victim)

        # While it is away: deletes, the same ids put again with other vectors, new rows.
        rng = np.random.default_rng(11)
        picked = rng.choice(ROWS, size=2 * CHANGED, replace=False)
        deleted = sorted(int(i) for i in picked[:CHANGED])
        reput = sorted(int(i) for i in picked[CHANGED:])
        action(c.nodes["n0"].data, "delete", {"dataset": name, "ids": deleted + reput})
        again = make_table(len(reput), d=DIM, rng=np.random.default_rng(12))
        again = again.set_column(0, "id", pa.array(reput, type=pa.int64()))
        put_table(c.nodes["n1"].data, name, again)
        new = make_table(CHANGED, d=DIM, start_id=ROWS, rng=np.random.default_rng(13))
        put_table(c.nodes["n0"].data, name, new)

        returning = c.nodes[victim]
        returning.start()
        wait_until(lambda: shard_map(c.nodes["n0"], name), lambda m: balanced(m, c.nodes),
                   "shards moved back to the returning node", timeout=CATCHUP_DEADLINE_S)
        placement = shard_map(c.nodes["n0"], name)["placement"]
        given_back = {s["shard"] for s in placement if victim in s["replicas"]}
        assert given_back

        # Each shard given back was reconciled from the copy kept, copying only what changed
        # (its outcome is recorded just after the map's flip: waited for).
        def caught_up(state):
            return {s["shard"]: s for s in state["shards"]
                    if s["dataset"] == name and s["state"] == "caught_up"}
        state = wait_until(lambda: status(returning)["catchup"],
                           lambda st: set(caught_up(st)) >= given_back,
                           "the returning node's catch-ups recorded", timeout=10)
        done = caught_up(state)
        assert set(done) == given_back
        copied = sum(s["rows_copied"] + s["rows_adopted"] for s in done.values())
        shard_rows = sum(len(local_rows(c.nodes["n0" if "n0" in s["replicas"] else "n1"],
                                        name, s["shard"]))
                         for s in placement if s["shard"] in given_back)
        assert 0 < copied < shard_rows / 10, (copied, shard_rows)
        assert given_back <= held_before  # moves gave back the shards it held, not others
        assert sum(s["rows_removed"] for s in done.values()) > 0  # deleted, and old vectors
        for s in done.values():
            assert s["kept_copy"]["kept"] and s["rows_bulk"] == 0 and s["rows_purged"] == 0
            assert s["kept_copy"]["buckets_differ"] < s["kept_copy"]["buckets"] / 2
        assert state["kept"] == len(held_before)

        # Every replica holds exactly its primary's rows: ids, vectors, every column.
        assert_replicas_equal(c, name, placement)

        # Every node finds each row once; the rows put again with their new vectors.
        expected = (set(range(ROWS)) - set(deleted)) | set(range(ROWS, ROWS + CHANGED))
        again_vectors = vectors_of(again.column("vector"))
        for node in c.nodes.values():
            found = scan(node.data, {"dataset": name, "require_all": True}).sort_by("id")
            ids = found.column("id").to_pylist()
            assert len(ids) == len(set(ids)) and set(ids) == expected
            vectors = dict(zip(ids, vectors_of(found.column("vector"))))
            for i, id_ in enumerate(reput):
                assert np.array_equal(vectors[id_], again_vectors[i]), id_
            for i in (0, len(reput) - 1):
                top = search(node, name, again_vectors[i], 10, require_all=True)
                got = top.column("id").to_pylist()
                assert missing_nodes(top) == []
                assert got[0] == reput[i] and len(got) == len(set(got)) == 10
    finally:
        c.stop()


def test_a_returning_node_without_a_snapshot_drops_its_copies_and_copies_afresh(tmp_path):
    # Its copies' graphs are not restored (it never snapshotted): indexing them again would take
    # longer than copying the shards afresh, with the primary's graphs, so they go before it
    # joins, with the reason in cluster-status.
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("afresh")
        first = make_table(2000, d=DIM, rng=np.random.default_rng(5))
        put_table(c.nodes["n0"].data, name, first, batch_size=500)
        victim = "n2"
        held_before = shards_held(c.nodes["n0"], name, victim)
        c.nodes[victim].proc.kill()
        wait_caught_up(c.nodes["n0"], name, victim)
        new = make_table(100, d=DIM, start_id=2000, rng=np.random.default_rng(6))
        put_table(c.nodes["n0"].data, name, new)

        returning = c.nodes[victim]
        returning.start()
        joined = wait_until(lambda: status(returning), lambda st: "catchup" in st,
                            "the returning node joined", timeout=MEMBERSHIP_DEADLINE_S)
        assert joined["catchup"]["kept"] == 0
        assert joined["catchup"]["dropped"] == len(held_before)
        dropped = [s for s in joined["catchup"]["shards"]
                   if s["dataset"] == name and s["state"] == "dropped"]
        assert {s["shard"] for s in dropped} == held_before
        for s in dropped:
            assert "its snapshot restored the graph of 0 of its" in s["reason"], s
        wait_until(lambda: shard_map(c.nodes["n0"], name), lambda m: balanced(m, c.nodes),
                   "shards moved back to the returning node", timeout=CATCHUP_DEADLINE_S)
        placement = shard_map(c.nodes["n0"], name)["placement"]
        assert_replicas_equal(c, name, placement)
        for node in c.nodes.values():
            ids = scan(node.data, {"dataset": name, "require_all": True}).column("id").to_pylist()
            assert sorted(ids) == list(range(2100))
    finally:
        c.stop()


def test_a_returning_node_answers_content_digests_and_refuses_bad_versions(tmp_path):
    c = start(tmp_path, ["n0", "n1"])
    try:
        name = unique_name("digest")
        table = make_table(300, d=DIM, rng=np.random.default_rng(4))
        put_table(c.nodes["n0"].data, name, table)
        node = c.nodes["n0"]
        shard = next(s["shard"] for s in shard_map(node, name)["placement"]
                     if "n0" in s["replicas"])
        ask = {"dataset": name, "shard": shard, "buckets": 16}
        ids = action(node.data, "shard-digest", ask)[0]
        content = action(node.data, "shard-digest", {**ask, "version": 2})[0]
        assert ids["version"] == 1 and content["version"] == 2
        assert content["rows"] == ids["rows"] > 0 and content["counts"] == ids["counts"]
        assert content["sums"] != ids["sums"]
        rows = action(node.data, "shard-digest", {**ask, "version": 2, "ids_of": [0, 1]})[0]
        assert len(rows["ids"]) == len(rows["hashes"]) == ids["counts"][0] + ids["counts"][1]
        for bad, message in ((3, "version must be 1 (ids) or 2 (content), got 3"),
                             (0, "version must be 1 (ids) or 2 (content), got 0"),
                             ("2", "'version' in shard-digest must be an integer")):
            with pytest.raises(pa.ArrowInvalid, match=re.escape(message)):
                action(node.data, "shard-digest", {**ask, "version": bad})
    finally:
        c.stop()
