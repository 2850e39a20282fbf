"""Sharded datasets on this one machine: ingest through one node and global search, for a
single node without cluster flags, a 1-node cluster with 4 shards (every shard on the node
itself: what routing costs without a peer), and 3-node clusters with 4 shards at R=1 and at R=2
(W=2).

For each setup (--setups: single, 1node, r1, r2; default all): --rows random float32 rows of
--dim dimensions put through node 0 (or, with --through all, through every node of the setup,
client stream i through node i mod nodes) in batches of --batch rows (default 5000) by --clients
concurrent client streams (default 1, each putting its share of the rows; on the clusters each
batch is split by shard, forwarded to each shard's primary and, at R=2, replicated before the
ack; the dataset is declared by a schema-only put first, untimed): rows/s and MB/s of vector
data; unless --ingest-only, every
shard READY (all rows indexed); then --queries DoGet search tickets (k 10, default ef) through
node 0 from 1 and 4 client threads: QPS, p50 and p99. Every process shares this machine's
cores: the figures show the cost of routing and replication, not a cluster's scaling.

    .venv/bin/python bench/cluster/shard_bench.py [--rows 30000] [--dim 128] [--batch 5000]
        [--clients 1] [--through 0|all] [--setups single,1node,r1,r2] [--ingest-only]

$ARBALEST_BIN picks the server binary (default: this checkout's release build): two builds can
be compared on the same machine in one session.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_util import wait_ready  # noqa: E402
from arbalest_util import ServerProcess, make_table, put_table  # noqa: E402
from cluster_search_bench import DATASET, arguments, measure, stop_all, wait_members  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

BATCH = 5000
SETUPS = {"single": ("single node (no cluster)", None, 1),
          "1node": ("1 node, 4 shards", 1, 1),
          "r1": ("3 nodes, 4 shards, R=1", 1, 3),
          "r2": ("3 nodes, 4 shards, R=2 W=2", 2, 3)}


def more_flags(parser) -> None:
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--ingest-only", action="store_true")
    parser.add_argument("--through", choices=["0", "all"], default="0",
                        help="put through node 0, or client i through node i mod nodes")


def ingest(nodes, table, batch: int, clients: int) -> float:
    """Puts `table` by `clients` concurrent streams, client i through nodes[i % len(nodes)];
    the seconds it took."""
    put_table(nodes[0].data, DATASET, table.slice(0, 0))  # declares the dataset (and shard map)
    share = -(-table.num_rows // clients)
    errors = []

    def client(i):
        try:
            node = nodes[i % len(nodes)]
            c = flight.connect(f"grpc://127.0.0.1:{node.port}")
            put_table(c, DATASET, table.slice(i * share, share), batch_size=batch)
            c.close()
        except Exception as e:  # reported after the run
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - begin
    if errors:
        raise errors[0]
    return seconds


def start(workdir: Path, replication: int | None, count: int = 3):
    """One node without cluster flags (replication None), or `count` sharded nodes."""
    if replication is None:
        return [ServerProcess(workdir / "single", extra_args=["--log-level", "warn"]).start()], None
    etcd = EtcdProcess(workdir).start()
    nodes = [ServerProcess(workdir / f"node{i}", extra_args=[
        "--log-level", "warn", "--cluster-etcd", etcd.url, "--cluster-name", "bench",
        "--cluster-shards", "4", "--cluster-replication", str(replication)]).start()
        for i in range(count)]
    wait_members(nodes[0], count)
    return nodes, etcd


def main() -> None:
    args, queries = arguments(__doc__, 30_000, "shard_bench.py", more_flags=more_flags)
    table = make_table(args.rows, d=args.dim, extra=False, rng=np.random.default_rng(5))
    vector_mb = args.rows * args.dim * 4 / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups.split(","):
            label, replication, count = SETUPS[setup]
            workdir = Path(tmp) / f"{replication}-{count}"
            workdir.mkdir()
            nodes, etcd = start(workdir, replication, count)
            try:
                through = nodes if args.through == "all" else nodes[:1]
                seconds = ingest(through, table, args.batch, args.clients)
                where = "node 0" if len(through) == 1 else f"{len(through)} nodes"
                print(f"{label:32s} ingest through {where}: {args.rows / seconds:9.0f} rows/s  "
                      f"{vector_mb / seconds:7.1f} MB/s", flush=True)
                if not args.ingest_only:
                    wait_ready(nodes[0].data, DATASET, timeout=600)
                    measure(label, nodes, args, queries)
            finally:
                stop_all(nodes, etcd)


if __name__ == "__main__":
    main()
