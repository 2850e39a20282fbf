"""Catch-up and shard moves on this one machine: how long a sharded dataset takes to get back
to R full replicas after a node is SIGKILLed, how long each shard's catch-up paused its writes,
and how long a fourth node takes to get its shards.

Three nodes (--cluster-lease-ttl 2, 4 shards, R=2, W=2); --rows random float32 rows of --dim
dimensions put through node 0 in batches of 5000; node 2 SIGKILLed; then, measured from the
kill: the time until every shard has 2 full replicas again (the lease expiry, the failover and
every catch-up), and each catch-up's rows and milliseconds (from cluster-status; with the
two-pass catch-up also its bulk pass and the time its shard's writes were paused); then a
fourth node started and the time until the replicas are balanced over 4 nodes (one shard per
dataset moving at a time). Every process shares this machine's cores.

    .venv/bin/python bench/cluster/catchup_bench.py [--rows 100000] [--dim 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess, make_table, put_table  # noqa: E402
from cluster_search_bench import stop_all, wait_members  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

DATASET = "catchup"


def status(node) -> dict:
    return json.loads(next(iter(node.data.do_action(
        flight.Action("cluster-status", b"")))).body.to_pybytes())


def wait_for(node, done, what, timeout=600.0) -> float:
    """Seconds until done(the dataset's shard map) holds."""
    begin = time.perf_counter()
    while True:
        maps = {m["dataset"]: m for m in status(node)["shard_maps"]}
        if done(maps[DATASET]):
            return time.perf_counter() - begin
        if time.perf_counter() - begin > timeout:
            raise SystemExit(f"{what}: not within {timeout} s: {maps[DATASET]}")
        time.sleep(0.05)


def full(m, count) -> bool:
    loads = Counter(r for s in m["placement"] for r in s["replicas"])
    return (len(loads) == count and max(loads.values()) - min(loads.values()) <= 1
            and all(len(s["replicas"]) == 2 and not s["syncing"] and not s.get("leaving")
                    for s in m["placement"]))


def start_cluster(workdir: Path, shards: int, count: int = 3):
    """An etcd and `count` nodes n0, n1, ... in `workdir` (lease TTL 2 s, R=2, `shards`
    shards), each listing all; the etcd, the nodes, and a function that starts node i."""
    etcd = EtcdProcess(workdir).start()

    def node(i):
        return ServerProcess(workdir / f"node{i}", extra_args=[
            "--log-level", "warn", "--cluster-etcd", etcd.url, "--cluster-name", "bench",
            "--node-id", f"n{i}", "--cluster-lease-ttl", "2", "--cluster-shards", str(shards),
            "--cluster-replication", "2"]).start()

    nodes = [node(i) for i in range(count)]
    for n in nodes:
        wait_members(n, count)
    return etcd, nodes, node


def parse_rows(parser: argparse.ArgumentParser):
    """`parser`'s arguments with --rows and --dim added, and the table of those rows."""
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    return args, make_table(args.rows, d=args.dim, extra=False, rng=np.random.default_rng(5))


def main() -> None:
    args, table = parse_rows(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    print(f"{args.rows} rows x {args.dim} float32, 4 shards, R=2; command: .venv/bin/python "
          f"bench/cluster/catchup_bench.py --rows {args.rows} --dim {args.dim}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        etcd, nodes, node = start_cluster(Path(tmp), shards=4)
        try:
            put_table(nodes[0].data, DATASET, table, batch_size=5000)
            nodes[2].proc.kill()
            back = wait_for(nodes[0], lambda m: full(m, 2), "two full replicas again")
            print(f"SIGKILL to 2 full replicas of every shard: {back:.2f} s "
                  f"(lease TTL 2 s included)")
            for n in nodes[:2]:
                for shard in status(n)["catchup"]["shards"]:
                    if shard["state"] == "caught_up":
                        passes = (f" (bulk {shard['bulk_seconds']:.3f} s, writes paused "
                                  f"{shard['fenced_seconds']:.3f} s)"
                                  if "fenced_seconds" in shard else "")
                        print(f"  shard {shard['shard']} caught up by {status(n)['node_id']}: "
                              f"{shard['rows_copied']} rows in {shard['ms']} ms{passes}")
            nodes.append(node(3))
            moved = wait_for(nodes[0], lambda m: full(m, 3), "balanced over 3 live nodes")
            print(f"a new node (n3) to replicas balanced over the 3 live nodes: {moved:.2f} s")
        finally:
            stop_all(nodes, etcd)


if __name__ == "__main__":
    main()
