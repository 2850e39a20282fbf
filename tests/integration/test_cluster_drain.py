"""The drain of a node stopped with SIGTERM, in a cluster of real processes: one etcd and three
`arbalest serve` nodes with fixed ids (docs/cluster.md, "Drain").

While puts go on through one survivor and searches through the other, the third node is sent
SIGTERM: it marks itself draining, hands every shard it holds over (with R=1 it first has each
of its shards copied to another member), leaves and exits. Right after it exited (its lease
TTL is long: nothing waited for an expiry) no shard map names it and every shard has a full
primary on a live node; no search was partial meanwhile; every acked row, the drained node's
included, is found exactly once from both survivors. A drain that cannot finish (the shard's
fence held by someone else, so its copy never starts) ends at --cluster-drain-timeout, and a
second SIGTERM ends it at once; both say in the log what was not handed over.

Timing is never asserted: changes are waited for with deadlines.
"""

from __future__ import annotations

import signal
import threading

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import action, make_table, put_table, unique_name, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, missing_nodes, search
from test_cluster_catchup import (CATCHUP_DEADLINE_S, NamedCluster, Putter, check_found_once,
                                  local_ids, members, shard_map, status)

# Long enough that a test which waited for an expiry would notice: the map must be right
# before any lease could have expired.
LEASE_TTL_S = 30
EXIT_DEADLINE_S = 120


class Searcher(threading.Thread):
    """Searches through `node` until stopped; counts the searches, the partial ones (a shard
    missing) and the failed ones."""

    def __init__(self, node, name):
        super().__init__(daemon=True)
        self.node, self.name = node, name
        self.done = self.partial = 0
        self.errors: list[str] = []
        self.stop_event = threading.Event()

    def run(self):
        rng = np.random.default_rng(11)
        while not self.stop_event.is_set():
            try:
                top = search(self.node, self.name, rng.standard_normal(DIM).astype(np.float32), 5)
                self.done += 1
                if missing_nodes(top):
                    self.partial += 1
                    self.errors.append(f"partial: {missing_nodes(top)}"[:300])
            except (flight.FlightError, pa.ArrowException) as e:
                self.errors.append(str(e)[:300])
            self.stop_event.wait(0.02)

    def stop(self):
        self.stop_event.set()
        self.join(60)


def start(tmp_path, replication, drain_timeout="30"):
    c = NamedCluster(tmp_path, unique_name("drain"))
    for node_id in ("n0", "n1", "n2"):
        c.add(node_id, lease_ttl_s=LEASE_TTL_S,
              extra=["--cluster-replication", str(replication),
                     "--cluster-drain-timeout", drain_timeout])
    for node in c.nodes.values():
        wait_until(lambda: members(node), lambda m: len(m) == 3, "every member listed",
                   timeout=MEMBERSHIP_DEADLINE_S)
    return c


@pytest.mark.parametrize("replication", [2, 1])
def test_sigterm_drains_a_node_without_losing_rows_or_completeness(tmp_path, replication):
    c = start(tmp_path, replication)
    try:
        name = unique_name("rows")
        first = make_table(2000, d=DIM, rng=np.random.default_rng(1))
        put_table(c.nodes["n0"].data, name, first, batch_size=500)
        before = shard_map(c.nodes["n0"], name)
        assert any("n2" in s["replicas"] for s in before["placement"])
        assert any(s["primary"] == "n2" for s in before["placement"])
        putter = Putter(c.nodes["n0"], name, start_id=100_000)
        searcher = Searcher(c.nodes["n1"], name)
        putter.start()
        searcher.start()
        wait_until(lambda: len(putter.acked), lambda n: n >= 200, "puts acked before the drain",
                   timeout=CATCHUP_DEADLINE_S)

        victim = c.nodes["n2"]
        victim.send_signal(signal.SIGTERM)
        assert victim.proc.wait(EXIT_DEADLINE_S) == 0
        # At once, no lease expiry waited for: no map names the node, every shard has a full
        # primary on a live member, and the node left the members.
        after = shard_map(c.nodes["n0"], name)
        for s in after["placement"]:
            assert "n2" not in s["replicas"], s
            assert s["primary"] in ("n0", "n1") and s["primary"] not in s["syncing"], s
        assert members(c.nodes["n0"]) == {"n0", "n1"}
        log = victim.stderr()
        assert "drained in" in log and "handed over:" in log
        if replication == 1:
            assert "copied first:" in log and "this node held its only full copy" in log

        acked = len(putter.acked)
        wait_until(lambda: len(putter.acked), lambda n: n >= acked + 200,
                   "puts acked after the drain", timeout=CATCHUP_DEADLINE_S)
        putter.stop()
        searcher.stop()
        assert searcher.done > 0 and searcher.partial == 0 and not searcher.errors, \
            searcher.errors[:5]
        acked_ids = putter.acked | set(range(2000))
        tables = [first, *putter.tables]
        for n in ("n0", "n1"):
            check_found_once(c.nodes[n], name, acked_ids, putter.tried | set(range(2000)), tables)
    finally:
        c.stop()


def hold_fence_of_a_victim_shard(c, name):
    """Closes, for 10 minutes, the fence of a shard whose only replica is n2 (R=1): its copy
    to another member cannot start, so n2's drain cannot hand it over."""
    shard = next(s for s in shard_map(c.nodes["n0"], name)["placement"] if s["primary"] == "n2")
    fence = {"dataset": name, "shard": shard["shard"], "epoch": shard["epoch"], "node": "n2",
             "op": "close", "hold_ms": 600000}
    action(c.nodes["n2"].data, "shard-fence", fence)
    return shard["shard"]


def test_drain_timeout_bounds_a_drain_that_cannot_finish(tmp_path):
    c = start(tmp_path, replication=1, drain_timeout="3")
    try:
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name, make_table(500, d=DIM), batch_size=100)
        shard = hold_fence_of_a_victim_shard(c, name)
        victim = c.nodes["n2"]
        victim.send_signal(signal.SIGTERM)
        assert victim.proc.wait(EXIT_DEADLINE_S) == 0
        log = victim.stderr()
        assert "drain incomplete" in log
        assert f"{name}/{shard}: waiting for a syncing replica to copy it" in log
    finally:
        c.stop()


def test_a_second_sigterm_leaves_at_once(tmp_path):
    c = start(tmp_path, replication=1, drain_timeout="3600")
    try:
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name, make_table(500, d=DIM), batch_size=100)
        hold_fence_of_a_victim_shard(c, name)
        victim = c.nodes["n2"]
        victim.send_signal(signal.SIGTERM)
        wait_until(lambda: status(c.nodes["n0"])["members"],
                   lambda ms: any(m["node_id"] == "n2" and m["state"] == "draining" for m in ms),
                   "the node shown draining", timeout=EXIT_DEADLINE_S)
        assert status(victim)["state"] == "draining" and status(victim)["draining"]
        victim.send_signal(signal.SIGTERM)
        # Far sooner than the drain's hour: the second signal ended it.
        assert victim.proc.wait(EXIT_DEADLINE_S) == 0
        log = victim.stderr()
        assert "again: leaving the cluster at once" in log and "drain incomplete" in log
    finally:
        # The others drain for up to an hour too, and cannot finish: the victim left its shards
        # without handing them over, and a member leaving wakes the repairer, which names the
        # others primaries of copies no live node can fill. Their SIGTERM would wait out the
        # stop timeout; they are not what this test is about.
        for node in c.nodes.values():
            node.stop(signal.SIGKILL)
        c.stop()


def test_delete_hops_carry_the_epoch_and_wait_at_the_shard_fence(tmp_path):
    """A delete's hop to a shard's replica names the epoch it was routed under: one routed
    before the map changed (a replica added, here by a drain) is refused as stale, so that its
    sender reads the map again and reaches the new replica too, and one that arrives while a
    catch-up holds the shard's fence waits for it, as a put does."""
    c = start(tmp_path, replication=2)
    try:
        name = unique_name("rows")
        put_table(c.nodes["n0"].data, name, make_table(400, d=DIM), batch_size=100)
        before = shard_map(c.nodes["n0"], name)["placement"]
        c.nodes["n2"].send_signal(signal.SIGTERM)
        assert c.nodes["n2"].proc.wait(EXIT_DEADLINE_S) == 0
        after = wait_until(lambda: shard_map(c.nodes["n0"], name)["placement"],
                           lambda p: all(not s["syncing"] for s in p), "every shard caught up",
                           timeout=CATCHUP_DEADLINE_S)
        s = next(s for s in after if s["epoch"] > before[s["shard"]]["epoch"])
        primary = c.nodes[s["primary"]]
        ids = local_ids(primary, name, s["shard"])
        hop = {"dataset": f"{name}.__shard{s['shard']}", "local_only": True}

        # Routed before the change: refused, nothing deleted.
        with pytest.raises(pa.ArrowInvalid, match="stale epoch"):
            action(primary.data, "delete", {**hop, "ids": ids[:5], "shard_epoch": s["epoch"] - 1})
        assert local_ids(primary, name, s["shard"]) == ids
        with pytest.raises(pa.ArrowInvalid, match="'shard_epoch' must be an integer"):
            action(primary.data, "delete", {**hop, "ids": ids[:5], "shard_epoch": "x"})

        # At the map's epoch, while the shard's fence is closed: it waits for the fence.
        fence = {"dataset": name, "shard": s["shard"], "epoch": s["epoch"],
                 "node": next(r for r in s["replicas"] if r != s["primary"]), "op": "close",
                 "hold_ms": 600000}
        token = action(primary.data, "shard-fence", fence)[0]["token"]
        answers = []
        deleting = threading.Thread(target=lambda: answers.append(action(
            primary.data, "delete", {**hop, "ids": ids[:5], "shard_epoch": s["epoch"]})[0]))
        deleting.start()
        deleting.join(1.0)
        assert deleting.is_alive() and local_ids(primary, name, s["shard"]) == ids
        assert action(primary.data, "shard-fence", {**fence, "op": "release", "token": token})
        deleting.join(60)
        assert answers == [{"deleted": 5}]
        assert local_ids(primary, name, s["shard"]) == ids[5:]

        # A cluster-wide delete reaches every replica at the current epoch.
        answer = action(c.nodes["n1"].data, "delete", {"dataset": name, "ids": ids[5:10]})[0]
        assert answer["deleted"] == 5 and not answer.get("missing_shards")
        for replica in s["replicas"]:
            assert not set(local_ids(c.nodes[replica], name, s["shard"])) & set(ids[5:10])
    finally:
        c.stop()
