"""A member leaving wakes the shard repairer (docs/cluster.md, "Failover"), with real processes:
one etcd and three `arbalest serve` nodes, 8 shards, replication factor 2, every node with a
lease TTL of 600 s, so that the repairer's period (a quarter of the TTL) is 150 s and its first
pass comes 150 s after the node joined.

A replica is SIGKILLed and its member key deleted from etcd (what its lease expiring does,
without waiting 600 s). The watch sees the key go and wakes the repairer: within seconds no
shard map names the dead node, long before the repairer's next pass. No put runs meanwhile
(a put to a shard with a dead replica repairs its map too).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import numpy as np
import pytest

from arbalest_util import make_table, put_table, unique_name, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S
from test_cluster_catchup import NamedCluster, members, shard_map

LEASE_TTL_S = 600  # the repairer's period: 150 s
REPAIRED_WITHIN_S = 20  # after the key went: a woken repairer's pass, with slack for a busy host


def delete_member_key(etcd_url: str, cluster: str, node_id: str) -> int:
    """Deletes `node_id`'s member key through etcd's v3 JSON gateway; the keys deleted."""
    key = base64.b64encode(f"/{cluster}/members/{node_id}".encode()).decode()
    request = urllib.request.Request(f"{etcd_url}/v3/kv/deleterange",
                                     data=json.dumps({"key": key}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as reply:
        return int(json.loads(reply.read()).get("deleted", 0))


def test_a_member_leaving_wakes_the_repairer_before_its_period(tmp_path):
    c = NamedCluster(tmp_path, unique_name("wake"))
    try:
        joined = time.monotonic()
        for node_id in ("n0", "n1", "n2"):
            c.add(node_id, lease_ttl_s=LEASE_TTL_S)
        for node in c.nodes.values():
            wait_until(lambda: members(node), lambda m: len(m) == 3, "3 members listed",
                       timeout=MEMBERSHIP_DEADLINE_S)
        name = unique_name("wake")
        put_table(c.nodes["n0"].data, name,
                  make_table(2_000, d=DIM, rng=np.random.default_rng(2)), batch_size=500)
        before = shard_map(c.nodes["n0"], name)["placement"]
        victim = "n1"
        assert any(victim in p["replicas"] for p in before), before

        c.nodes[victim].proc.kill()
        assert delete_member_key(c.etcd.url, c.name, victim) == 1
        left = time.monotonic()
        after = wait_until(lambda: shard_map(c.nodes["n0"], name)["placement"],
                           lambda ps: all(victim not in p["replicas"] for p in ps),
                           "no shard map naming the dead member", timeout=REPAIRED_WITHIN_S)
        took = time.monotonic() - left
        print(f"repaired {took:.2f} s after the member key went ({time.monotonic() - joined:.0f} s "
              f"after the nodes joined; the repairer's period is {LEASE_TTL_S // 4} s)")
        # Well before the repairer's first periodic pass (150 s after each node joined).
        assert time.monotonic() - joined < LEASE_TTL_S // 4
        assert all(len(p["replicas"]) == 2 and p["primary"] != victim for p in after), after
    finally:
        c.stop()


if __name__ == "__main__":
    pytest.main([__file__, "-v"])
