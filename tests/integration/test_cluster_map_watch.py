"""Shard maps watched in etcd (docs/cluster.md): each node keeps the maps in memory and applies
etcd's watch events to them, so that a failover's new epoch reaches every node as soon as etcd
delivers it, not after a cache expiry, and no node accepts a write under the old epoch
afterwards. Three real nodes, four shards, R=2; one SIGKILLed.

Timing is never asserted: the watch's progress (the etcd revision it applied, in
cluster-status) is waited for with deadlines (wait_until).
"""

from __future__ import annotations

import base64
import json
import urllib.request

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import make_table, put_table, unique_name, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S, cluster_status, node_id, wait_for_members
from test_cluster_shards import put_hop, start_cluster


def stored_map(c, name) -> tuple[dict, int]:
    """The dataset's shard map as etcd holds it, read from etcd itself, and its mod_revision."""
    key = base64.b64encode(f"/{c.name}/shards/{name}".encode()).decode()
    request = urllib.request.Request(c.etcd.url + "/v3/kv/range",
                                     data=json.dumps({"key": key}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as reply:
        kv = json.loads(reply.read())["kvs"][0]
    return json.loads(base64.b64decode(kv["value"])), int(kv["mod_revision"])


def epochs(placement: dict) -> list:
    return [s["epoch"] for s in placement["placement"]]


def watch_of(node) -> dict:
    return cluster_status(node)["shard_maps_watch"]


def replica_put(node, name, shard, epoch):
    """A shard put as a replica receives it from its primary."""
    return put_hop(node, name, shard, epoch, role="replica")


def test_failover_epoch_reaches_every_node_through_the_watch(tmp_path):
    c = start_cluster(tmp_path)
    try:
        name = unique_name("watched")
        for i, node in enumerate(c.nodes):  # every node routes a put: each has read the map
            put_table(node.data, name, make_table(50, d=DIM, start_id=1000 * i,
                                                  rng=np.random.default_rng(i)))
        before, revision = stored_map(c, name)
        for node in c.nodes:
            watch = wait_until(lambda: watch_of(node), lambda w: w["watching"] and
                               w["revision"] >= revision, "the watch in place")
            assert watch["epochs"][name] == epochs(before)

        by_id = {node_id(n): n for n in c.nodes}
        victim_id = before["placement"][0]["replicas"][0]
        by_id[victim_id].proc.kill()
        survivors = [n for n in c.nodes if node_id(n) != victim_id]
        wait_for_members(survivors, {node_id(n) for n in survivors}, "the victim gone")
        after, revision = wait_until(lambda: stored_map(c, name),
                                     lambda m: all(victim_id not in s["replicas"]
                                                   for s in m[0]["placement"]),
                                     "the failover in etcd", timeout=MEMBERSHIP_DEADLINE_S)
        # Every survivor's maps in memory follow etcd's by the watch: no read of its own.
        for node in survivors:
            watch = wait_until(lambda: watch_of(node), lambda w: w["revision"] >= revision,
                               "the failover's revision applied by the watch")
            assert watch["watching"] and watch["epochs"][name] == epochs(after)
        # So the old epoch is refused at once, by every survivor that was a replica under it.
        refused = 0
        for was, now in zip(before["placement"], after["placement"]):
            if victim_id not in was["replicas"]:
                continue
            assert now["epoch"] > was["epoch"]
            for node_name in set(was["replicas"]) - {victim_id}:
                with pytest.raises(pa.ArrowInvalid, match="stale epoch"):
                    replica_put(by_id[node_name], name, was["shard"], was["epoch"])
                refused += 1
        assert refused > 0
    finally:
        c.stop()
