"""Global search across a cluster on this one machine: the same rows split over 1, 2 and 3
nodes, searched through one node (which fans out to the others over Flight and merges).

For each cluster size: a real etcd on free loopback ports, N `arbalest serve` nodes joined to
it, --rows random float32 rows of --dim dimensions put in equal parts to the nodes (one
dataset name), every node READY (all rows indexed); then --queries DoGet search tickets (k 10,
default ef) through node 0 from 1 and 4 client threads: QPS, p50 and p99 latency; and the same
searches with local_only on node 0 (its own share alone) for the fan-out's cost. A baseline node
without cluster flags holds all rows. Every process shares this machine's cores, so the figures
measure the fan-out's overhead, not a cluster's scaling.

    .venv/bin/python bench/cluster/cluster_search_bench.py [--rows 60000] [--dim 128]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_util import wait_ready  # noqa: E402
from arbalest_util import ServerProcess, put_table, make_table  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

DATASET = "bench"


def run_queries(port: int, queries: np.ndarray, threads: int, local_only: bool,
                connect=None, options=None) -> dict:
    """`connect(port)`: a client (default: plain grpc://); `options`: each call's
    FlightCallOptions (a token's header)."""
    latencies: list[float] = []
    lock = threading.Lock()
    parts = np.array_split(queries, threads)

    def worker(part):
        client = (connect or (lambda p: flight.connect(f"grpc://127.0.0.1:{p}")))(port)
        mine = []
        for query in part:
            keys = {"dataset": DATASET, "vector": query.tolist(), "k": 10}
            if local_only:
                keys["local_only"] = True
            ticket = flight.Ticket(json.dumps({"search": keys}).encode())
            start = time.perf_counter()
            client.do_get(ticket, options=options).read_all()
            mine.append(time.perf_counter() - start)
        client.close()
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(part,)) for part in parts]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"qps": len(latencies) / seconds, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}


def start_nodes(workdir: Path, count: int, etcd: EtcdProcess | None) -> list[ServerProcess]:
    nodes = []
    for i in range(count):
        args = ["--log-level", "warn"]
        if etcd:
            args += ["--cluster-etcd", etcd.url, "--cluster-name", "bench", "--cluster-shards", "0"]
        nodes.append(ServerProcess(workdir / f"node{i}", extra_args=args).start())
    return nodes


def wait_members(node: ServerProcess, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(next(iter(node.data.do_action(
            flight.Action("cluster-status", b"")))).body.to_pybytes())
        if len(status["members"]) == count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"members not listed: {status}")
        time.sleep(0.1)


def measure(label: str, nodes: list[ServerProcess], args, queries, local_only=False):
    for threads in (1, 4):
        figures = run_queries(nodes[0].port, queries, threads, local_only)
        print(f"{label:32s} clients {threads}: {figures['qps']:8.0f} QPS  "
              f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms", flush=True)


def more_of(argv: list[str]) -> str:
    """The flags of `argv` other than --rows, --dim and --queries (and their values)."""
    more, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.split("=")[0] in ("--rows", "--dim", "--queries"):
            skip = "=" not in arg
        else:
            more.append(arg)
    return "".join(f" {arg}" for arg in more)


def arguments(doc: str, rows: int, script: str, what: str = "", more_flags=None):
    """--rows (default `rows`), --dim and --queries (and what `more_flags(parser)` adds), and
    the random queries; prints them and the command that reproduces the run of `script` (after
    `what`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    if more_flags:
        more_flags(parser)
    args = parser.parse_args()
    queries = np.random.default_rng(1).standard_normal((args.queries, args.dim),
                                                       dtype=np.float32)
    print(f"{what}{args.rows} rows x {args.dim} float32, k 10, default ef, {args.queries} "
          f"queries; command: .venv/bin/python bench/cluster/{script} --rows {args.rows} "
          f"--dim {args.dim} --queries {args.queries}{more_of(sys.argv[1:])}", flush=True)
    return args, queries


def stop_all(nodes, etcd) -> None:
    for node in nodes:
        node.stop(signal.SIGTERM)
    if etcd:
        etcd.kill()


def main() -> None:
    args, queries = arguments(__doc__, 60_000, "cluster_search_bench.py")
    with tempfile.TemporaryDirectory() as tmp:
        for count in (0, 1, 2, 3):  # 0: a node without cluster flags
            workdir = Path(tmp) / f"size{count}"
            workdir.mkdir()
            etcd = EtcdProcess(workdir).start() if count else None
            nodes = start_nodes(workdir, max(count, 1), etcd)
            try:
                if etcd:
                    wait_members(nodes[0], count)
                share = args.rows // len(nodes)
                for i, node in enumerate(nodes):
                    table = make_table(share, d=args.dim, start_id=i * share, extra=False,
                                       rng=np.random.default_rng(10 + i))
                    put_table(node.data, DATASET, table, batch_size=10_000)
                for node in nodes:
                    wait_ready(node.data, DATASET, timeout=600)
                label = "single node (no cluster)" if not count else f"{count}-node cluster"
                measure(label, nodes, args, queries)
                if count > 1:
                    measure(f"{count}-node, local_only", nodes, args, queries, local_only=True)
            finally:
                stop_all(nodes, etcd)


if __name__ == "__main__":
    main()
