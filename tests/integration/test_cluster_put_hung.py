"""Put streams to a hung node (docs/cluster.md, "Put streams"): one etcd and three `arbalest
serve` nodes, 4 shards, replication factor 2, a put timeout of 1 s, and a lease long enough that
a stopped node stays a member.

A node SIGSTOPped (hung, not dead: its kernel keeps its connections open, so nothing tells its
peers it is gone) while the router's streams to it and to the healthy node are idle: the sweeper
closes both after the idle time, and the hung node never ends its call, so that one is
cancelled (cluster-status `put_streams.cancelled`) instead of holding the sweeper until the
call's deadline (about a minute). A put that needs the hung node fails within the put timeout,
naming a shard, and the fresh stream it opened to the healthy node is closed once idle too;
before, the sweeper was still waiting on the first close and left it open.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pyarrow.flight as flight
import pytest

from arbalest_util import make_table, put_table, unique_name, wait_until
from test_cluster import DIM, Cluster, cluster_status, node_id, wait_for_members


def test_a_stream_to_a_hung_node_is_cancelled_and_the_sweeper_goes_on(tmp_path):
    c = Cluster(tmp_path, unique_name("hung"), lease_ttl_s=120, shards=4,
                extra_args=["--cluster-put-timeout", "1s"])
    for i in range(3):
        c.add_node(i)
    wait_for_members(c.nodes, {node_id(n) for n in c.nodes}, "all three members listed")
    router, victim = c.nodes[0], c.nodes[1]
    stopped = False
    try:
        name = unique_name("hungput")
        put_table(router.data, name, make_table(200, d=DIM, rng=np.random.default_rng(1)))
        opened = cluster_status(router)["put_streams"]
        assert opened["open"] >= 2, opened  # to both peers

        os.kill(victim.proc.pid, signal.SIGSTOP)
        stopped = True
        # Both streams go idle and the sweeper closes them after 10 s; the hung node never
        # ends its call.
        wait_until(lambda: cluster_status(router)["put_streams"], lambda s: s["open"] == 0,
                   "the idle streams taken out of the pool", timeout=25)
        start = time.monotonic()
        # Rows in every shard: the hung node is a replica of some, so the put cannot be acked;
        # its slices to the healthy node open a fresh stream there.
        with pytest.raises(flight.FlightError, match="shard"):
            put_table(router.data, name,
                      make_table(200, d=DIM, start_id=10_000, rng=np.random.default_rng(2)))
        assert time.monotonic() - start < 30  # bounded by the put timeout, not a stream's life
        # The sweeper, not held by the close of the stream to the hung node (cancelled), closes
        # the fresh streams once idle too; before, it waited for that call's deadline.
        status = wait_until(lambda: cluster_status(router)["put_streams"],
                            lambda s: s["open"] == 0,
                            "every idle stream closed while a peer hangs", timeout=25)
        assert status["cancelled"] >= 1, status
    finally:
        if stopped:
            os.kill(victim.proc.pid, signal.SIGCONT)
        c.stop()
