"""A syncing replica adopts its primary's sealed segments with their graphs (docs/cluster.md,
"Catch-up and shard moves"), with real processes: one etcd and three `arbalest serve` nodes,
one shard, replication factor 2, segments sealed every 1,500 rows and never merged.

Two nodes take a dataset of 6,000 rows (four sealed segments, every row linked); a third joins
(with a long lease, so that it can be SIGKILLed and restarted later without losing its place);
one replica is SIGKILLed, and the third node catches the shard up from the primary while a
client keeps putting to the dataset and deleting ids of the sealed segments. The catch-up
reports the segments adopted whole; the new replica's rows are linked right after the catch-up
(its graphs were adopted, not rebuilt); both replicas then hold the same ids, each once: every
acked row, no deleted id; a search of the new replica alone (local_only) reaches the primary's
recall. The row scan after the adoption reads only the rows after the last segment adopted
(`after_segment`), not the whole shard again. SIGKILLed right afterwards and restarted on its data
dir, it holds the same rows.

A second test SIGKILLs the new replica as soon as its catch-up reports caught_up and starts it
again on its data dir: the snapshot the catch-up took of the adopted copy restores their graphs
(`index_restored_rows`), rather than the restart indexing every row again from the log.

A fourth test merges the primary's last two sealed segments between the adoption and the row
scan: the primary refuses the scan after the last adopted segment, and the new replica scans
after the segment before the merged ones (which the primary still holds as it was), not the
whole shard, storing no row twice nor missing one.

A third test compacts the primary's first segment between the adoption and the row scan (a
test-only pause between the two): the primary refuses the scan after the adopted segments (its
rows before them were renumbered), the new replica reads the whole shard instead, and stores no
row twice nor misses one.
"""

from __future__ import annotations

import numpy as np
import pytest

import arbalest_util
from arbalest_util import (ServerProcess, action, make_table, put_table, scan, scrape,
                           unique_name, value, wait_until)
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, brute_force_ids, search
from test_cluster_catchup import Deleter, local_ids, members, shard_map, status
from test_cluster_catchup_bulk import Cluster as CatchupCluster
from test_cluster_catchup_bulk import TimedPutter

LEASE_TTL_S = 2
LONG_LEASE_TTL_S = 30  # the node that catches up: SIGKILLed and back well within it
ROWS = 6_000
SEGMENT_ROWS = 1_500
DEADLINE_S = MEMBERSHIP_DEADLINE_S + 120
SCAN_DELAY_MS = 10_000  # between adoption and row scan, in the compaction test
MERGE_DELAY_MS = 20_000  # the same in the merge test (the deletes, then the merge)


class Cluster(CatchupCluster):
    """The catch-up tests' cluster, its nodes sealing segments of SEGMENT_ROWS rows."""

    def add(self, node_id, lease_ttl_s=LEASE_TTL_S, env=None, merge=False):
        """`merge`: the node merges its segments, and compacts only when asked."""
        self.nodes[node_id] = ServerProcess(self.workdir / node_id, env=env, extra_args=[
            "--cluster-etcd", self.etcd.url, "--cluster-name", self.name,
            "--node-id", node_id, "--cluster-lease-ttl", str(lease_ttl_s),
            "--cluster-search-timeout", "10s", "--cluster-shards", "1",
            "--segment-max-bytes", str(SEGMENT_ROWS * DIM * 4),
            *(["--segment-merge=true", "--compact-deleted-fraction", "0"] if merge else
              ["--segment-merge=false"])]).start()
        return self.nodes[node_id]

    def wait_members(self, count):
        for node in self.nodes.values():
            wait_until(lambda: members(node), lambda m: len(m) == count,
                       f"{count} members listed", timeout=MEMBERSHIP_DEADLINE_S)

    def start_with_rows(self, seed, merge=False):
        """n0 and n1 holding a dataset of ROWS rows in one shard, both READY: its name, the
        shard's local dataset, the shard's placement, its primary and the other replica's id."""
        for node_id in ("n0", "n1"):
            self.add(node_id, merge=merge)
        self.wait_members(2)
        name = unique_name("rows")
        shard = f"{name}.__shard0"
        put_table(self.nodes["n0"].data, name,
                  make_table(ROWS, d=DIM, rng=np.random.default_rng(seed)), batch_size=500)
        for node in self.nodes.values():
            assert readiness(node, shard, wait=60)["status"] == "READY"
        placement = shard_map(self.nodes["n0"], name)["placement"][0]
        victim = next(n for n in placement["replicas"] if n != placement["primary"])
        return name, shard, placement, self.nodes[placement["primary"]], victim

    def join(self, node_id, **kwargs):
        node = self.add(node_id, **kwargs)
        self.wait_members(len(self.nodes))
        return node


def readiness(node, dataset, wait=None):
    body = {"dataset": dataset, "local_only": True}
    if wait:
        body["wait"] = wait
    return action(node.data, "check_readiness", body)[0]


def recall(node, name, ids, vectors, queries, k=10):
    hits = 0
    for query in queries:
        found = search(node, name, query, k, local_only=True).column("id").to_pylist()
        hits += len(set(found) & set(brute_force_ids(ids, vectors, query, k)))
    return hits / (k * len(queries))


def test_a_new_replica_adopts_the_sealed_segments_and_loses_nothing(tmp_path, monkeypatch):
    c = Cluster(tmp_path, unique_name("adopt"))
    try:
        name, shard, placement, primary, victim = c.start_with_rows(seed=3)
        newcomer = c.join("n2", lease_ttl_s=LONG_LEASE_TTL_S)

        putter = TimedPutter(primary, name, 1_000_000)
        deleter = Deleter(primary, name, range(0, ROWS, 7), seed=1)
        putter.start()
        c.nodes[victim].proc.kill()
        # Deletes start once the victim left the shard (before, each reports it missing).
        wait_until(lambda: shard_map(primary, name)["placement"][0],
                   lambda p: victim not in p["replicas"], "the victim out of the shard",
                   timeout=DEADLINE_S)
        deleter.start()
        wait_until(lambda: shard_map(primary, name)["placement"][0],
                   lambda p: not p["syncing"] and sorted(p["replicas"]) ==
                   sorted([placement["primary"], "n2"]),
                   "n2 a full replica of the shard", timeout=DEADLINE_S)
        # Right after the catch-up: the adopted rows are linked without any index work.
        linked_after = readiness(newcomer, shard)["index_len"]
        # Deletes answered while the victim was still a replica reported it missing: some more.
        wait_until(lambda: len(deleter.deleted), lambda n: n > 0 or not deleter.ids,
                   "a delete that reached every replica", timeout=DEADLINE_S)
        putter.stop()
        deleter.stop()

        done = [s for s in status(newcomer)["catchup"]["shards"]
                if s["dataset"] == name and s["state"] == "caught_up"]
        assert len(done) == 1, status(newcomer)["catchup"]
        caught = done[0]
        print(f"catch-up: {caught}")
        assert caught["segments_adopted"] >= 3, caught
        assert caught["rows_adopted"] >= 3 * SEGMENT_ROWS, caught
        assert caught["adopted"]["fallback"] == "", caught
        assert linked_after >= caught["rows_adopted"], (linked_after, caught)
        # The row scan stored only rows outside the adopted segments (the primary's active
        # segment, and put before this node took the shard's writes).
        assert caught["rows_bulk"] < ROWS - SEGMENT_ROWS, caught
        # ... and read only those: from the end of the last segment adopted, no more rows than
        # the primary ever held outside the adopted segments. A scan of the whole shard reads at
        # least ROWS - 858 (ids deleted) rows, more than that here (rows_adopted > tried + 858).
        last = caught["adopted"]["last"]
        assert caught["scan"]["fallback"] == "", caught
        assert caught["scan"]["from_row"] == last["first_row"] + last["rows"] >= \
            caught["rows_adopted"], caught
        assert caught["rows_scanned"] <= ROWS + len(putter.tried) - caught["rows_adopted"], (
            len(putter.tried), caught)
        assert 0 < caught["bytes_scanned"] <= caught["rows_scanned"] * (DIM * 4 + 64), caught

        # Both replicas hold the same ids, each once: every acked row, no deleted id.
        tried_deletes = set(range(0, ROWS, 7)) - set(deleter.ids)
        acked = (set(range(ROWS)) - tried_deletes) | putter.acked
        unsure = (putter.tried - putter.acked) | (tried_deletes - deleter.deleted)
        held = [local_ids(node, name, 0) for node in (primary, newcomer)]
        assert len(held[1]) == len(set(held[1])), "a row held twice"
        assert set(held[0]) ^ set(held[1]) <= unsure, sorted((set(held[0]) ^ set(held[1])) - unsure)
        assert deleter.deleted and not set(held[1]) & deleter.deleted
        assert acked <= set(held[1]), sorted(acked - set(held[1]))[:10]

        # A search of the new replica alone finds what the primary's does.
        assert readiness(newcomer, shard, wait=60)["status"] == "READY"
        rows = scan(primary.data, {"dataset": shard, "local_only": True})
        ids = np.array(rows.column("id").to_pylist())
        vectors = np.array(rows.column("vector").to_pylist(), dtype=np.float32)
        queries = np.random.default_rng(11).standard_normal((30, DIM)).astype(np.float32)
        primary_recall = recall(primary, shard, ids, vectors, queries)
        replica_recall = recall(newcomer, shard, ids, vectors, queries)
        print(f"recall@10: primary {primary_recall:.3f}, new replica {replica_recall:.3f}")
        assert replica_recall >= min(0.95, primary_recall - 0.02), (replica_recall,
                                                                     primary_recall)

        # SIGKILLed right after adopting and restarted (same ports, same data dir, within its
        # lease: still the shard's replica), it holds the same rows.
        before = local_ids(newcomer, name, 0)
        newcomer.proc.kill()
        restart(newcomer, monkeypatch)
        assert local_ids(newcomer, name, 0) == before
        assert "n2" in shard_map(primary, name)["placement"][0]["replicas"]
    finally:
        c.stop()


def restart(node, monkeypatch):
    """Starts SIGKILLed `node` again on its data dir and ports (within its lease: still the
    shard's replica)."""
    node.proc.wait()
    ports = [node.port, node.meta_port, node.metrics_port]
    monkeypatch.setattr(arbalest_util, "free_ports", lambda n: list(ports))
    node.start(attempts=1)
    monkeypatch.undo()


def test_a_replica_killed_right_after_adopting_restores_the_graphs_without_indexing(
        tmp_path, monkeypatch):
    c = Cluster(tmp_path, unique_name("adoptsnap"))
    try:
        name, shard, placement, primary, victim = c.start_with_rows(seed=7)
        newcomer = c.join("n2", lease_ttl_s=LONG_LEASE_TTL_S)
        c.nodes[victim].proc.kill()
        caught = wait_until(
            lambda: [s for s in status(newcomer)["catchup"]["shards"]
                     if s["dataset"] == name and s["state"] == "caught_up"],
            lambda done: done, "n2's catch-up done", timeout=DEADLINE_S)[0]
        print(f"catch-up: {caught}")
        assert caught["segments_adopted"] >= 3 and caught["rows_adopted"] >= 3 * SEGMENT_ROWS
        samples = scrape(newcomer)  # checked below (the restart resets the counters)

        # SIGKILLed at once (no clean stop, no snapshot round since) and started again.
        newcomer.proc.kill()
        restart(newcomer, monkeypatch)
        assert readiness(newcomer, shard, wait=60)["status"] == "READY"
        stats = action(newcomer.data, "stats", {"dataset": shard, "local_only": True})[0]
        print(f"after the restart: {stats['rows']} rows, {stats['index_restored_rows']} rows' "
              f"graphs restored, snapshot LSN {stats['snapshot_lsn']}")
        # Every adopted row's graph mapped from the snapshot's segment files, none indexed again.
        assert stats["index_restored_rows"] >= caught["rows_adopted"], (stats, caught)
        assert stats["rows"] >= ROWS - SEGMENT_ROWS
        # The catch-up reported the snapshot it waited for; its metrics count what it did.
        assert value(samples, "arbalest_cluster_catchup_segments_adopted_total") == \
            caught["segments_adopted"]
        assert value(samples, "arbalest_cluster_catchup_rows_adopted_total") == \
            caught["rows_adopted"]
        assert caught["snapshot"]["lsn"] > 0 and \
            caught["snapshot"]["indexed_rows"] >= caught["rows_adopted"], caught
        assert value(samples, "arbalest_cluster_catchup_snapshots_total", outcome="written") == 1
    finally:
        c.stop()


def test_a_compaction_between_adoption_and_row_scan_falls_back_to_the_whole_shard(tmp_path):
    c = Cluster(tmp_path, unique_name("adoptcompact"))
    try:
        name, shard, placement, primary, victim = c.start_with_rows(seed=5)
        # The new node pauses between adopting the segments and its row scan.
        newcomer = c.join("n2", env={"ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS": str(SCAN_DELAY_MS)})

        putter = TimedPutter(primary, name, 1_000_000)
        putter.start()
        c.nodes[victim].proc.kill()
        # The segments adopted (at least three: ROWS - SEGMENT_ROWS rows, every one live).
        wait_until(lambda: local_ids(newcomer, name, 0) or [],
                   lambda ids: len(set(ids) & set(range(ROWS))) >= ROWS - SEGMENT_ROWS,
                   "the sealed segments adopted", timeout=DEADLINE_S)
        # Meanwhile, rows of the first segment deleted (on both replicas) and the primary's
        # copy compacted: the rows after the first segment renumbered.
        gone = list(range(0, 300, 3))
        answer = action(primary.data, "delete", {"dataset": name, "ids": gone})[0]
        assert answer["deleted"] >= len(gone) and not answer.get("missing_shards"), answer
        assert action(primary.data, "compact", {"dataset": shard})[0]["reclaimed_rows"] >= 100
        wait_until(lambda: shard_map(primary, name)["placement"][0],
                   lambda p: not p["syncing"] and sorted(p["replicas"]) ==
                   sorted([placement["primary"], "n2"]),
                   "n2 a full replica of the shard", timeout=DEADLINE_S)
        putter.stop()

        caught = next(s for s in status(newcomer)["catchup"]["shards"]
                      if s["dataset"] == name and s["state"] == "caught_up")
        print(f"catch-up: {caught}")
        assert caught["segments_adopted"] >= 3, caught
        # The scan after the last adopted segment refused, the whole shard read instead.
        assert "names no sealed segment" in caught["scan"]["fallback"], caught
        assert caught["scan"]["from_row"] == 0, caught
        assert caught["rows_scanned"] >= ROWS - len(gone), caught

        # Exact: the same ids on both replicas, each once; every acked row; no deleted id.
        acked = (set(range(ROWS)) - set(gone)) | putter.acked
        unsure = putter.tried - putter.acked
        held = [local_ids(node, name, 0) for node in (primary, newcomer)]
        assert len(held[1]) == len(set(held[1])), "a row held twice"
        assert set(held[0]) ^ set(held[1]) <= unsure, sorted((set(held[0]) ^ set(held[1])) - unsure)
        assert not set(held[1]) & set(gone)
        assert acked <= set(held[1]), sorted(acked - set(held[1]))[:10]
    finally:
        c.stop()

def test_a_merge_of_the_last_adopted_segment_scans_after_an_earlier_one(tmp_path):
    c = Cluster(tmp_path, unique_name("adoptmerge"))
    try:
        name, shard, placement, primary, victim = c.start_with_rows(seed=9, merge=True)
        listed = action(primary.data, "shard-segments", {"dataset": shard})[0]["segments"]
        assert len(listed) >= 3, listed
        before, prev, last = listed[-3], listed[-2], listed[-1]
        # The new node pauses between adopting the segments and its row scan.
        newcomer = c.join("n2", env={"ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS": str(MERGE_DELAY_MS)})

        # No puts meanwhile, so that the segments listed are those adopted.
        c.nodes[victim].proc.kill()
        adopted_rows = last["first_row"] + last["rows"]
        wait_until(lambda: local_ids(newcomer, name, 0) or [],
                   lambda ids: len(set(ids) & set(range(ROWS))) >= adopted_rows,
                   "the sealed segments adopted", timeout=DEADLINE_S)
        # Meanwhile, two thirds of the rows of the last two segments deleted (on both replicas;
        # ids are rows here): together they fit one segment, and the primary merges them.
        gone = [i for seg in (prev, last)
                for i in range(seg["first_row"], seg["first_row"] + seg["rows"] * 2 // 3)]
        answer = action(primary.data, "delete", {"dataset": name, "ids": gone})[0]
        assert answer["deleted"] >= len(gone) and not answer.get("missing_shards"), answer
        # A few new rows: the indexing turn they make asks for merges.
        new = make_table(20, d=DIM, start_id=1_000_000, rng=np.random.default_rng(10))
        put_table(primary.data, name, new)
        merged = {"first_row": prev["first_row"], "rows": prev["rows"] + last["rows"]}
        wait_until(lambda: action(primary.data, "shard-segments", {"dataset": shard})[0],
                   lambda a: any({k: s[k] for k in ("first_row", "rows")} == merged
                                 for s in a["segments"]),
                   "the primary's last two adopted segments merged", timeout=MERGE_DELAY_MS / 2000)
        wait_until(lambda: shard_map(primary, name)["placement"][0],
                   lambda p: not p["syncing"] and sorted(p["replicas"]) ==
                   sorted([placement["primary"], "n2"]),
                   "n2 a full replica of the shard", timeout=DEADLINE_S)

        caught = next(s for s in status(newcomer)["catchup"]["shards"]
                      if s["dataset"] == name and s["state"] == "caught_up")
        print(f"catch-up: {caught}")
        assert caught["segments_adopted"] == len(listed), caught
        # The scan after the last adopted segment refused; the one after the segment before the
        # merged two read instead, not the whole shard.
        assert "names no sealed segment" in caught["scan"]["fallback"], caught
        assert "scanned after adopted segment" in caught["scan"]["fallback"], caught
        assert caught["scan"]["from_row"] == before["first_row"] + before["rows"] > 0, caught
        assert caught["rows_scanned"] <= ROWS + new.num_rows - caught["scan"]["from_row"], caught

        # Exact: the same ids on both replicas, each once; every row put; no deleted id.
        acked = (set(range(ROWS)) - set(gone)) | set(new.column("id").to_pylist())
        held = [local_ids(node, name, 0) for node in (primary, newcomer)]
        assert len(held[1]) == len(set(held[1])), "a row held twice"
        assert set(held[0]) == set(held[1]) == acked, sorted(set(held[0]) ^ set(held[1]))[:10]
    finally:
        c.stop()


if __name__ == "__main__":
    pytest.main([__file__, "-v"])
