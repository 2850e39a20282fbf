"""Catch-up and shard moves of sharded datasets in a cluster of real processes: one etcd and
three or four `arbalest serve` nodes with fixed ids, replication factor 2 (docs/cluster.md,
"Catch-up and shard moves").

A node SIGKILLed while puts go on: once its lease expires, each of its shards gets a surviving
replica as primary and the third node as a `syncing` replica; that replica copies the shard's
earlier rows from the primary (in bulk while the writes go on, then the differences while they
pause), then becomes a full replica (no
shard stays syncing, both replicas of a shard hold the same ids, each once). Then the source of
those copies is SIGKILLed too: the one node left answers every acked row exactly once, by scans
and by searches. A killed node that comes back on its data dir keeps its stale shard copies
(unread until a catch-up reconciles them, test_cluster_return.py), then takes shards again by
moves, and so does a fourth node that joins: while
shards move and puts go on, every scan holds every row acked before it, each once; at the end
the replicas of every shard agree on every acked row and every node finds each once. Deletes
issued in a loop through two nodes while a replica catches up stay deleted on every replica
(the catch-up neither copies back nor keeps a row a delete removed meanwhile). Bad input:
a shard-fence request from a node that is not a replica, at a stale epoch, or with an unknown
op is refused. A catch-up whose primary's fence someone else holds copies the shard in bulk
all the same, reports the fence as why it cannot finish, and finishes once it is released.

Timing is never asserted: membership and map changes are waited for with deadlines.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (ServerProcess, action, make_table, put_table, scan, scrape,
                           unique_name, value, vectors_of, wait_until)
from etcd_util import EtcdProcess
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, brute_force_ids, missing_nodes, search

LEASE_TTL_S = 2
SHARDS = 8
CATCHUP_DEADLINE_S = MEMBERSHIP_DEADLINE_S + 40


class NamedCluster:
    """Nodes with fixed ids (n0, n1, ...), so that a node restarted on new ports is the same
    member coming back."""

    def __init__(self, workdir, name):
        self.workdir = workdir
        self.name = name
        self.etcd = EtcdProcess(workdir).start()
        self.nodes: dict[str, ServerProcess] = {}

    def add(self, node_id: str, extra=(), lease_ttl_s=LEASE_TTL_S) -> ServerProcess:
        node = ServerProcess(self.workdir / node_id, extra_args=[
            "--cluster-etcd", self.etcd.url, "--cluster-name", self.name,
            "--node-id", node_id, "--cluster-lease-ttl", str(lease_ttl_s),
            "--cluster-search-timeout", "10s", "--cluster-shards", str(SHARDS), *extra]).start()
        self.nodes[node_id] = node
        return node

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        self.etcd.kill()


def status(node) -> dict:
    return action(node.data, "cluster-status")[0]


def members(node) -> set:
    return {m["node_id"] for m in status(node)["members"]}


def shard_map(node, name) -> dict:
    return {m["dataset"]: m for m in status(node)["shard_maps"]}[name]


def local_ids(node, name, shard):
    try:
        table = scan(node.data, {"dataset": f"{name}.__shard{shard}", "local_only": True})
    except pa.ArrowKeyError:
        return None
    return sorted(table.column("id").to_pylist())


class Putter(threading.Thread):
    """Puts batches of new rows through `node` until stopped; remembers which were acked and
    every batch tried (a failed batch may still be stored on some shards)."""

    def __init__(self, node, name, start_id):
        super().__init__(daemon=True)
        self.node, self.name, self.next_id = node, name, start_id
        self.acked, self.tried = set(), set()
        self.tables = []
        self.stop_event = threading.Event()
        self.failures = 0
        self.reasons = []

    def run(self):
        rng = np.random.default_rng(self.next_id)
        while not self.stop_event.is_set():
            table = make_table(20, d=DIM, start_id=self.next_id, rng=rng)
            ids = set(range(self.next_id, self.next_id + 20))
            self.next_id += 20
            self.tried |= ids
            self.tables.append(table)
            try:
                put_table(self.node.data, self.name, table)
                self.acked |= ids
            except (flight.FlightError, pa.ArrowException) as e:
                self.failures += 1
                self.reasons.append(str(e)[:300])
            self.stop_event.wait(0.05)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def check_found_once(node, name, acked, tried, tables):
    """Every acked row found exactly once by a scan and by searches through `node` (`tables`:
    every row tried, the rows found among them)."""
    found = scan(node.data, {"dataset": name, "require_all": True})
    ids = found.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "a row found twice"
    assert acked <= set(ids), f"acked rows lost: {sorted(acked - set(ids))[:10]}"
    assert set(ids) <= tried
    table = pa.concat_tables(tables)
    all_ids = table.column("id").to_numpy()
    vectors = vectors_of(table.column("vector"))
    keep = np.isin(all_ids, np.array(sorted(set(ids)), dtype=np.int64))
    for row in (0, len(all_ids) // 2, len(all_ids) - 1):
        if not keep[row]:
            continue
        top = search(node, name, vectors[row], 10, require_all=True)
        assert missing_nodes(top) == []
        got = top.column("id").to_pylist()
        assert got[0] == all_ids[row] and len(got) == len(set(got)) == 10  # found, once
        # The neighbours of a graph search: nearly all of the brute-force top 10.
        want = brute_force_ids(all_ids[keep], vectors[keep], vectors[row], 10)
        assert len(set(got) & set(want)) >= 8


def wait_caught_up(node, name, dead: str):
    return wait_until(
        lambda: shard_map(node, name),
        lambda m: all(dead not in s["replicas"] and not s["syncing"] and len(s["replicas"]) == 2
                      for s in m["placement"]),
        "every shard back to 2 full replicas (catch-up done)", timeout=CATCHUP_DEADLINE_S)


def start(tmp_path, node_ids):
    c = NamedCluster(tmp_path, unique_name("catchup"))
    for node_id in node_ids:
        c.add(node_id)
    for node in c.nodes.values():
        wait_until(lambda: members(node), lambda m: m == set(node_ids), "every member listed",
                   timeout=MEMBERSHIP_DEADLINE_S)
    return c


def snapshot_indexed(node):
    """Snapshots `node`'s datasets once every row of them is indexed, so that a restart restores
    their graphs (a returning node keeps only copies whose graphs it restores)."""
    ready = action(node.data, "check_readiness", {"wait": 60, "local_only": True})[0]
    assert ready["status"] == "READY", ready
    saved = action(node.data, "snapshot", {})[0]["snapshot"]
    assert saved and all(s["indexed_rows"] == s["rows"] for s in saved), saved


def kill_and_catch_up(c, name, victim, putter):
    """SIGKILLs `victim` while `putter` puts; waits until every shard has 2 full replicas
    again. The map before and after."""
    before = shard_map(c.nodes["n0"], name)
    putter.start()
    c.nodes[victim].proc.kill()
    after = wait_caught_up(c.nodes["n0"], name, victim)
    acked = len(putter.acked)
    wait_until(lambda: len(putter.acked), lambda n: n >= acked + 100,
               "puts acked after the catch-up", timeout=CATCHUP_DEADLINE_S)
    return before, after


def check_catchup_metrics(c, nodes, caught_up):
    """Each node's catch-up metrics (/metrics) say what its cluster-status says its catch-ups
    did (each shard caught up once, so its last state holds all it copied); some rows copied."""
    copied = 0
    for n in nodes:
        done = [s for s in status(c.nodes[n])["catchup"]["shards"] if s["state"] == "caught_up"]
        samples = scrape(c.nodes[n])

        def metric(name, **labels):
            return value(samples, name, **labels) or 0

        assert metric("arbalest_cluster_catchups_total", outcome="caught_up") == caught_up[n]
        assert len(done) == caught_up[n]
        rows = {"bulk": sum(s["rows_bulk"] for s in done),
                "reconcile": sum(s["reconcile_before_fences"]["rows_copied"] for s in done),
                "fenced": sum(s["rows_fenced"] for s in done)}
        for pass_, expected in rows.items():
            assert metric("arbalest_cluster_catchup_rows_copied_total", **{"pass": pass_}) == \
                expected, (n, pass_)
        copied += sum(rows.values())
        assert metric("arbalest_cluster_catchup_fenced_seconds_count") == caught_up[n]
        assert metric("arbalest_cluster_catchup_fenced_seconds_sum") == \
            pytest.approx(sum(s["fenced_seconds"] for s in done), abs=1e-6)
        # The bulk passes' row scans and segment adoptions, as cluster-status gives them.
        for metric_name, key in (("arbalest_cluster_catchup_rows_scanned_total", "rows_scanned"),
                                 ("arbalest_cluster_catchup_bytes_scanned_total", "bytes_scanned"),
                                 ("arbalest_cluster_catchup_rows_adopted_total", "rows_adopted"),
                                 ("arbalest_cluster_catchup_segments_adopted_total",
                                  "segments_adopted")):
            assert value(samples, metric_name) == sum(s[key] for s in done), (n, metric_name)
        for result, key in (("compared", "buckets"), ("differ", "buckets_differ")):
            expected = sum(s["reconcile_before_fences"][key] + s["reconcile_fenced"][key]
                           for s in done)
            assert metric("arbalest_cluster_catchup_digest_buckets_total", result=result) == \
                expected, (n, result)
        assert value(samples, "arbalest_cluster_catchups_total", outcome="failed") is not None
        # Every catch-up that copied rows or adopted segments asked for a snapshot of its copy
        # before its flip (not left to the next snapshot round), and the metrics count them.
        copying = [s for s in done if s["rows_bulk"] > 0 or s["segments_adopted"] > 0]
        assert all(isinstance(s["snapshot"], dict) for s in copying), copying
        assert sum(metric("arbalest_cluster_catchup_snapshots_total", outcome=outcome)
                   for outcome in ("written", "failed")) == len(copying), n
    assert copied > 0
    assert sum(value(scrape(c.nodes[n]), "arbalest_cluster_catchup_rows_scanned_total")
               for n in nodes) > 0


def test_syncing_replicas_catch_up_and_serve_once_the_source_dies(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("rows")
        first = make_table(400, d=DIM, rng=np.random.default_rng(1))
        put_table(c.nodes["n0"].data, name, first, batch_size=100)
        victim, survivors = "n2", ["n0", "n1"]
        putter = Putter(c.nodes["n0"], name, 100_000)
        before, after = kill_and_catch_up(c, name, victim, putter)
        putter.stop()

        # The shards the victim held got a syncing replica, which caught up and flipped.
        moved = [s for s in before["placement"] if victim in s["replicas"]]
        assert moved
        for was in moved:
            now = after["placement"][was["shard"]]
            assert now["epoch"] > was["epoch"]
            assert set(now["replicas"]) == set(survivors)
        caught_up = {n: status(c.nodes[n])["catchup"]["caught_up"] for n in survivors}
        assert sum(caught_up.values()) == len(moved)
        check_catchup_metrics(c, survivors, caught_up)
        # Both replicas of every shard hold the same rows, each once: the rows received while
        # syncing were not copied twice.
        for shard in range(SHARDS):
            held = [local_ids(c.nodes[n], name, shard) for n in survivors]
            assert held[0] == held[1] and len(held[0]) == len(set(held[0]))

        acked = set(range(400)) | putter.acked
        tried = set(range(400)) | putter.tried
        tables = [first] + putter.tables
        for n in survivors:
            check_found_once(c.nodes[n], name, acked, tried, tables)

        # The source of the catch-ups dies too: the node that caught its shards up answers
        # every acked row, once.
        keeper = max(survivors, key=lambda n: caught_up[n])
        other = next(n for n in survivors if n != keeper)
        c.nodes[other].proc.kill()
        check_found_once(c.nodes[keeper], name, acked, tried, tables)
    finally:
        c.stop()


class Scanner(threading.Thread):
    """Scans through `node` over and over while shards move: each scan must hold every row
    acked before it started, each once."""

    def __init__(self, node, name, putter, acked_before):
        super().__init__(daemon=True)
        self.node, self.name, self.putter = node, name, putter
        self.acked_before = acked_before
        self.stop_event = threading.Event()
        self.scans, self.errors = 0, []

    def run(self):
        while not self.stop_event.is_set():
            acked = self.acked_before | set(self.putter.acked)
            try:
                ids = scan(self.node.data, {"dataset": self.name, "require_all": True}) \
                    .column("id").to_pylist()
            except (flight.FlightError, pa.ArrowException) as e:
                self.errors.append(f"scan failed: {e}")
                continue
            self.scans += 1
            if len(ids) != len(set(ids)):
                self.errors.append("a row seen twice")
            if not acked <= set(ids):
                self.errors.append(f"acked rows missing: {sorted(acked - set(ids))[:5]}")

    def stop(self):
        self.stop_event.set()
        self.join(60)


def balanced(m, nodes) -> bool:
    loads = Counter(r for s in m["placement"] for r in s["replicas"])
    return (all(len(s["replicas"]) == 2 and not s["syncing"] and not s.get("leaving")
                for s in m["placement"])
            and set(loads) == set(nodes) and max(loads.values()) - min(loads.values()) <= 1)


def test_a_returning_node_keeps_its_stale_copies_and_joining_members_take_shards(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("rows")
        first = make_table(400, d=DIM, rng=np.random.default_rng(2))
        put_table(c.nodes["n0"].data, name, first, batch_size=100)
        victim = "n2"
        held_before = [s["shard"] for s in shard_map(c.nodes["n0"], name)["placement"]
                       if victim in s["replicas"]]
        snapshot_indexed(c.nodes[victim])  # so that its restart restores its copies' graphs
        putter = Putter(c.nodes["n0"], name, 200_000)
        kill_and_catch_up(c, name, victim, putter)

        # The victim comes back on its data dir: its copies of the shards it lost are kept (not
        # served); then shards move back to it (while puts and scans go on), each kept copy
        # reconciled by content digests.
        scanner = Scanner(c.nodes["n1"], name, putter, set(range(400)))
        scanner.start()
        returning = c.nodes[victim]
        returning.start()
        joined = wait_until(lambda: status(returning), lambda st: "catchup" in st,
                            "the returning node joined", timeout=MEMBERSHIP_DEADLINE_S)
        assert joined["catchup"]["kept"] == len(held_before)
        wait_until(lambda: shard_map(returning, name), lambda m: balanced(m, c.nodes),
                   "shards moved to the returning node", timeout=CATCHUP_DEADLINE_S)

        # A fourth member joins: shards move to it.
        c.add("n3")
        wait_until(lambda: shard_map(c.nodes["n0"], name), lambda m: balanced(m, c.nodes),
                   "shards moved to the new member", timeout=CATCHUP_DEADLINE_S)
        scanner.stop()
        putter.stop()
        assert scanner.scans > 0 and scanner.errors == []

        acked = set(range(400)) | putter.acked
        tried = set(range(400)) | putter.tried
        tables = [first] + putter.tables
        placement = shard_map(c.nodes["n0"], name)["placement"]
        for s in placement:
            held = [local_ids(c.nodes[n], name, s["shard"]) for n in s["replicas"]]
            assert all(len(h) == len(set(h)) for h in held)
            # The replicas agree on every acked row (a batch that failed may have been stored
            # by some replicas only).
            differ = set(held[0]) ^ set(held[1])
            assert not differ & acked, (sorted(differ & acked)[:10], putter.failures)
        for node in c.nodes.values():
            check_found_once(node, name, acked, tried, tables)
        # Copies of shards a node no longer holds go (after a grace for searches in flight).
        for node_id, node in c.nodes.items():
            for s in placement:
                if node_id not in s["replicas"]:
                    wait_until(lambda: local_ids(node, name, s["shard"]), lambda ids: ids is None,
                               f"{node_id}'s copy of shard {s['shard']} dropped",
                               timeout=CATCHUP_DEADLINE_S)
    finally:
        c.stop()


def test_shard_fence_refuses_stale_requests(tmp_path):
    c = NamedCluster(tmp_path, unique_name("fence"))
    try:
        for node_id in ("n0", "n1"):
            c.add(node_id)
        for node in c.nodes.values():
            wait_until(lambda: members(node), lambda m: len(m) == 2, "two members",
                       timeout=MEMBERSHIP_DEADLINE_S)
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name, make_table(50, d=DIM))
        shard = shard_map(c.nodes["n0"], name)["placement"][0]
        primary = c.nodes[shard["primary"]]
        body = {"dataset": name, "shard": 0, "epoch": shard["epoch"], "node": "nobody",
                "op": "close"}
        with pytest.raises(pa.ArrowInvalid, match="stale epoch"):
            action(primary.data, "shard-fence", body)
        with pytest.raises(pa.ArrowInvalid, match="stale epoch"):
            action(primary.data, "shard-fence",
                   {**body, "node": shard["replicas"][-1], "epoch": shard["epoch"] + 5})
        with pytest.raises(pa.ArrowInvalid, match="op must be close, check or release"):
            action(primary.data, "shard-fence", {**body, "op": "open"})
        # A close by a replica pauses the shard's writes until released.
        token = action(primary.data, "shard-fence",
                       {**body, "node": shard["replicas"][-1]})[0]["token"]
        check = {**body, "op": "check", "token": token}
        assert action(primary.data, "shard-fence", check)[0]["remaining_ms"] > 0
        assert action(primary.data, "shard-fence", {**check, "op": "release"})[0]["held"]
        assert action(primary.data, "shard-fence", check)[0]["remaining_ms"] <= 0
        put_table(c.nodes["n1"].data, name, make_table(50, d=DIM, start_id=1000))
        assert scan(c.nodes["n1"].data, {"dataset": name}).num_rows == 100
    finally:
        c.stop()


def test_a_catch_up_that_cannot_copy_reports_it_and_flips_nothing_until_it_can(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("rows")
        rows = make_table(300, d=DIM, rng=np.random.default_rng(3))
        put_table(c.nodes["n0"].data, name, rows, batch_size=100)
        placement = shard_map(c.nodes["n0"], name)["placement"]
        # A shard whose primary survives the kill of its other replica.
        shard = next(s for s in placement if s["primary"] != "n2" and "n2" in s["replicas"])
        primary = c.nodes[shard["primary"]]
        syncing = next(n for n in c.nodes if n not in shard["replicas"])
        # Someone else holds the shard's fence on its primary (for a live node: a close for a
        # node that leaves is opened by the primary): the catch-up cannot start.
        fence = {"dataset": name, "shard": shard["shard"], "epoch": shard["epoch"],
                 "node": shard["primary"], "op": "close", "hold_ms": 600000}
        token = action(primary.data, "shard-fence", fence)[0]["token"]
        c.nodes["n2"].proc.kill()

        def catchup_of(node_id):
            states = status(c.nodes[node_id])["catchup"]["shards"]
            return next((s for s in states if s["dataset"] == name
                         and s["shard"] == shard["shard"]), None)

        failed = wait_until(lambda: catchup_of(syncing), lambda s: s and s["state"] == "failed",
                            "the catch-up reported failing", timeout=CATCHUP_DEADLINE_S)
        assert "another catch-up holds the shard's writes" in failed["reason"]
        assert failed["source"] == shard["primary"]
        assert value(scrape(c.nodes[syncing]), "arbalest_cluster_catchups_total",
                     outcome="failed") >= 1
        now = shard_map(primary, name)["placement"][shard["shard"]]
        assert now["syncing"] == [syncing]  # not flipped
        # Searches never ask the syncing replica: every row is still found once.
        found = scan(c.nodes[syncing].data, {"dataset": name, "require_all": True})
        assert sorted(found.column("id").to_pylist()) == list(range(300))
        # The bulk pass needs no fence: the replica's copy holds the primary's rows already.
        wait_until(lambda: local_ids(c.nodes[syncing], name, shard["shard"]),
                   lambda ids: ids == local_ids(primary, name, shard["shard"]),
                   "the bulk pass copied the shard while its fence was held",
                   timeout=CATCHUP_DEADLINE_S)

        # Released: the next pass catches the shard up.
        assert action(primary.data, "shard-fence", {**fence, "op": "release", "token": token})[0]
        done = wait_until(lambda: catchup_of(syncing), lambda s: s["state"] == "caught_up",
                          "the catch-up done once the fence was released",
                          timeout=CATCHUP_DEADLINE_S)
        # Copied by the attempts' bulk passes: the last one found every row held already.
        assert done["rows_copied"] == done["rows_fenced"] == done["rows_removed"] == 0
        assert local_ids(c.nodes[syncing], name, shard["shard"]) == \
            local_ids(primary, name, shard["shard"])
        assert shard_map(primary, name)["placement"][shard["shard"]]["syncing"] == []
    finally:
        c.stop()


class Deleter(threading.Thread):
    """Deletes batches of `ids` through `node` (cluster-wide) until stopped; remembers the ids
    of every delete that reached every shard (no shard missing)."""

    def __init__(self, node, name, ids, seed):
        super().__init__(daemon=True)
        self.node, self.name = node, name
        self.ids = list(ids)
        np.random.default_rng(seed).shuffle(self.ids)
        self.deleted: set[int] = set()
        self.calls = 0
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set() and self.ids:
            batch, self.ids = self.ids[:5], self.ids[5:]
            try:
                answer = action(self.node.data, "delete", {"dataset": self.name, "ids": batch})[0]
            except (flight.FlightError, pa.ArrowException):
                continue
            self.calls += 1
            if not answer.get("missing_shards"):
                self.deleted |= set(batch)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def test_deletes_during_a_catch_up_stay_deleted_on_every_replica(tmp_path):
    c = start(tmp_path, ["n0", "n1", "n2"])
    try:
        name = unique_name("deletes")
        rows = 40_000
        put_table(c.nodes["n0"].data, name, make_table(rows, d=DIM, rng=np.random.default_rng(5)),
                  batch_size=5000)
        # Deletes run through both survivors, over and over, while the victim's shards get a
        # syncing replica that copies them from the primary.
        deleters = [Deleter(c.nodes[n], name, range(i, rows, 2), seed=i)
                    for i, n in enumerate(["n0", "n1"])]
        for deleter in deleters:
            deleter.start()
        c.nodes["n2"].proc.kill()
        wait_caught_up(c.nodes["n0"], name, "n2")
        for deleter in deleters:
            deleter.stop()
        deleted = set().union(*(d.deleted for d in deleters))
        assert deleted and all(d.calls for d in deleters)

        placement = shard_map(c.nodes["n0"], name)["placement"]
        for s in placement:
            for replica in s["replicas"]:
                held = local_ids(c.nodes[replica], name, s["shard"]) or []
                back = set(held) & deleted
                assert not back, f"{replica} holds deleted ids of shard {s['shard']}: " \
                                 f"{sorted(back)[:10]}"
        for n in ("n0", "n1"):
            found = scan(c.nodes[n].data, {"dataset": name, "require_all": True})
            assert not set(found.column("id").to_pylist()) & deleted
    finally:
        c.stop()
