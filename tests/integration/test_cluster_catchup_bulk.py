"""Catch-up in two passes (docs/cluster.md, "Catch-up and shard moves"), with real processes:
one etcd and three `arbalest serve` nodes, 2 shards, replication factor 2.

A node is SIGKILLed; each of its shards gets a syncing replica, which copies the shard in bulk
while a client keeps putting to the dataset and deleting some of its ids (through two nodes),
then reconciles under the fences. The bulk pass is slowed by the test-only knob
ARBALEST_TEST_CATCHUP_BULK_DELAY_MS so that it lasts several seconds, longer than the fence's
hold (shortened by ARBALEST_TEST_CATCHUP_HOLD_MS): the catch-up still finishes. Afterwards both
replicas of every shard hold the same rows, each once; every acked row is there, no deleted id
is; the longest put (acked or not) while the shard was syncing took far less than the catch-up;
and rows this node held that the primary lacks (put to the syncing replica alone, through the
shard-put hop) are removed by the reconcile pass, while rows that only the primary got during
the bulk pass are copied by it.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

from arbalest_util import ServerProcess, action, make_table, put_table, unique_name, wait_until
from etcd_util import EtcdProcess
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S
from test_cluster_catchup import Deleter, local_ids, members, shard_map, status

LEASE_TTL_S = 2
SHARDS = 2
ROWS = 40_000
BULK_DELAY_MS = 150  # per batch the bulk pass reads
HOLD_MS = 3000       # the fence's hold: shorter than the bulk pass
DEADLINE_S = MEMBERSHIP_DEADLINE_S + 120


class Cluster:
    def __init__(self, workdir, name):
        self.workdir, self.name = workdir, name
        self.etcd = EtcdProcess(workdir).start()
        self.nodes: dict[str, ServerProcess] = {}

    def add(self, node_id):
        env = {"ARBALEST_TEST_CATCHUP_BULK_DELAY_MS": str(BULK_DELAY_MS),
               "ARBALEST_TEST_CATCHUP_HOLD_MS": str(HOLD_MS)}
        self.nodes[node_id] = ServerProcess(self.workdir / node_id, env=env, extra_args=[
            "--cluster-etcd", self.etcd.url, "--cluster-name", self.name,
            "--node-id", node_id, "--cluster-lease-ttl", str(LEASE_TTL_S),
            "--cluster-search-timeout", "10s", "--cluster-shards", str(SHARDS)]).start()

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        self.etcd.kill()


class TimedPutter(threading.Thread):
    """Puts batches of 20 new rows through `node` until stopped, timing each call."""

    def __init__(self, node, name, start_id):
        super().__init__(daemon=True)
        self.node, self.name, self.next_id = node, name, start_id
        self.acked, self.tried = set(), set()
        self.calls: list[tuple[float, float, bool]] = []  # (start, seconds, acked)
        self.stop_event = threading.Event()

    def run(self):
        rng = np.random.default_rng(self.next_id)
        while not self.stop_event.is_set():
            ids = set(range(self.next_id, self.next_id + 20))
            table = make_table(20, d=DIM, start_id=self.next_id, rng=rng)
            self.next_id += 20
            self.tried |= ids
            begin = time.monotonic()
            try:
                put_table(self.node.data, self.name, table)
                ok = True
                self.acked |= ids
            except (flight.FlightError, pa.ArrowException):
                ok = False
            self.calls.append((begin, time.monotonic() - begin, ok))
            self.stop_event.wait(0.02)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def shard_put(node, name, shard, epoch, table):
    """A shard put with role replica: stored by `node` alone, not replicated."""
    hop = {"shard_put": {"dataset": name, "shard": shard, "epoch": epoch, "role": "replica"}}
    put_table(node.data, name, table,
              descriptor=flight.FlightDescriptor.for_command(json.dumps(hop)))


def catchups(node, name):
    return [s for s in status(node)["catchup"]["shards"] if s["dataset"] == name]


def test_a_shard_copied_in_bulk_while_its_writes_go_on_catches_up_exactly(tmp_path):
    c = Cluster(tmp_path, unique_name("bulk"))
    try:
        for node_id in ("n0", "n1", "n2"):
            c.add(node_id)
        for node in c.nodes.values():
            wait_until(lambda: members(node), lambda m: len(m) == 3, "every member listed",
                       timeout=MEMBERSHIP_DEADLINE_S)
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name,
                  make_table(ROWS, d=DIM, rng=np.random.default_rng(7)), batch_size=500)
        before = shard_map(c.nodes["n0"], name)["placement"]
        victim = "n2"
        moved = [s["shard"] for s in before if victim in s["replicas"]]
        assert moved

        putter = TimedPutter(c.nodes["n0"], name, 1_000_000)
        deleters = [Deleter(c.nodes[n], name, range(i, ROWS, 3), seed=i)
                    for i, n in enumerate(["n0", "n1"])]
        putter.start()
        for deleter in deleters:
            deleter.start()
        c.nodes[victim].proc.kill()
        # Failover done: the victim's shards have a syncing replica, copying in bulk.
        syncing = wait_until(
            lambda: shard_map(c.nodes["n0"], name)["placement"],
            lambda p: all(victim not in p[s]["replicas"] and p[s]["syncing"] for s in moved),
            "a syncing replica for every shard of the victim", timeout=DEADLINE_S)
        window_start = time.monotonic()
        # While the first shard copies in bulk: rows only its syncing replica gets (the reconcile
        # pass removes them) and rows only its primary gets (copied, by one pass or the other).
        first = syncing[moved[0]]
        replica, primary = c.nodes[first["syncing"][0]], c.nodes[first["primary"]]
        wait_until(lambda: catchups(replica, name),
                   lambda states: any(s["shard"] == moved[0] and s["state"] == "copying"
                                      for s in states),
                   "the bulk pass under way", timeout=DEADLINE_S)
        extra = make_table(10, d=DIM, start_id=5_000_000)
        shard_put(replica, name, moved[0], first["epoch"], extra)
        only_primary = make_table(10, d=DIM, start_id=6_000_000)
        shard_put(primary, name, moved[0], first["epoch"], only_primary)
        wait_until(lambda: shard_map(c.nodes["n0"], name)["placement"],
                   lambda p: all(not s["syncing"] and victim not in s["replicas"]
                                 and len(s["replicas"]) == 2 for s in p),
                   "every shard back to 2 full replicas", timeout=DEADLINE_S)
        window_end = time.monotonic()
        putter.stop()
        for deleter in deleters:
            deleter.stop()

        done = [s for n in ("n0", "n1") for s in catchups(c.nodes[n], name)
                if s["state"] == "caught_up"]
        assert sorted(s["shard"] for s in done) == sorted(moved)
        # The shard's puts went on during the bulk pass: none waited for anything near it.
        # The calls that overlapped the time the shard had a syncing replica.
        during = [(seconds, ok) for begin, seconds, ok in putter.calls
                  if begin <= window_end and begin + seconds >= window_start]
        longest = max(seconds for seconds, _ in during)
        shortest_catchup = min(s["ms"] for s in done) / 1000
        print(f"catch-ups: {done}; puts while syncing: {len(during)}, longest {longest:.3f} s")
        assert longest < shortest_catchup / 4, (longest, shortest_catchup)
        assert sum(ok for _, ok in during) >= 20, during

        # Every replica holds the same rows, each once: every acked row, no deleted id, not the
        # replica-only rows, the primary-only ones.
        deleted = set().union(*(d.deleted for d in deleters))
        assert deleted and all(d.calls for d in deleters)
        # Deletes tried but not acked by every shard may have run on some replicas only.
        tried_deletes = set().union(*(set(range(i, ROWS, 3)) - set(d.ids)
                                      for i, d in enumerate(deleters)))
        acked = (set(range(ROWS)) - tried_deletes) | putter.acked
        placement = shard_map(c.nodes["n0"], name)["placement"]
        held_all = set()
        # Rows the replicas may disagree on: batches not acked, deletes not acked everywhere.
        unsure = (putter.tried - putter.acked) | (tried_deletes - deleted)
        for s in placement:
            held = [local_ids(c.nodes[n], name, s["shard"]) for n in s["replicas"]]
            differ = set(held[0]) ^ set(held[1])
            assert differ <= unsure, (s, sorted(differ - unsure)[:10])
            assert len(held[0]) == len(set(held[0])), "a row held twice"
            assert not set(held[0]) & deleted, sorted(set(held[0]) & deleted)[:10]
            held_all |= set(held[0])
        assert acked <= held_all, sorted(acked - held_all)[:10]
        assert not set(extra.column("id").to_pylist()) & held_all
        assert set(only_primary.column("id").to_pylist()) <= held_all
        # Both passes ran: the bulk outlasted the fence's hold, the reconcile pass did not.
        for s in done:
            assert s["compared_by"] == "content", s  # the primary offers content digests
            assert s["rows_bulk"] > 0
            assert s["bulk_seconds"] * 1000 > HOLD_MS, s
            assert s["fenced_seconds"] * 1000 < HOLD_MS, s
        first_done = next(s for s in done if s["shard"] == moved[0])
        assert first_done["rows_removed"] >= 10, first_done  # the replica-only rows
    finally:
        c.stop()


def test_a_node_asked_to_stop_during_a_catch_up_exits_promptly(tmp_path):
    # A joining member takes a shard and copies it in bulk, slowly (a second per batch, some
    # twenty batches); SIGTERM (no drain) stops the copy at its next batch: the node exits
    # within a few seconds, not after the bulk pass, the reconcile and the snapshot wait.
    etcd = EtcdProcess(tmp_path).start()
    nodes = []
    try:
        def node(node_id, env=None):
            return ServerProcess(tmp_path / node_id, env=env, extra_args=[
                "--cluster-etcd", etcd.url, "--cluster-name", "stopping", "--node-id", node_id,
                "--cluster-lease-ttl", str(LEASE_TTL_S), "--cluster-shards", "2",
                "--cluster-drain-timeout", "0"]).start()
        nodes += [node("n0"), node("n1")]
        name = unique_name("stop")
        put_table(nodes[0].data, name, make_table(4000, d=DIM, rng=np.random.default_rng(3)),
                  batch_size=200)
        joining = node("n2", env={"ARBALEST_TEST_CATCHUP_BULK_DELAY_MS": "1000"})
        nodes.append(joining)
        # (No "catchup" in cluster-status until the node joined.)
        wait_until(lambda: status(joining).get("catchup", {}).get("shards", []),
                   lambda states: any(s["dataset"] == name and s["state"] == "copying"
                                      for s in states),
                   "the joining node's bulk pass under way", timeout=DEADLINE_S)
        begin = time.monotonic()
        code = joining.stop(timeout=60)
        seconds = time.monotonic() - begin
        assert code == 0, code
        assert seconds < 8, f"exited {seconds:.1f} s after SIGTERM"
    finally:
        for n in nodes:
            n.stop()
        etcd.kill()
