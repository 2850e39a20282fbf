"""The cost of global BM25 statistics: hybrid search latency through one node of a 3-node
cluster (one etcd, a sharded dataset: 4 shards, R = 2), with the build before them (each
shard fuses its own ranks) and the build with them (a statistics round trip, then the shards'
candidates fused at the node), side by side in one run.

For each binary (--before, --after): a real etcd on free loopback ports, 3 `arbalest serve`
nodes, --rows rows of --dim random float32 vectors and a text column of 8 words drawn (Zipf)
from a 2,000-word vocabulary, put through node 0; every shard READY; then --queries hybrid
searches (a DoGet search ticket: k 10, default ef, alpha 0.5, a 2-word text query) through
node 0 from one client thread, and the same dense searches without a text query (no extra
phase in either build) as a control: QPS, p50 and p99. Every process shares this machine's
cores, so the figures measure the extra phase's overhead, not a cluster's scaling.

    .venv/bin/python bench/cluster/hybrid_search_bench.py --before OLD_BINARY --after NEW_BINARY \
        [--rows 20000] [--dim 64] [--queries 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_util import wait_ready  # noqa: E402
from arbalest_util import ServerProcess, put_table, vector_array  # noqa: E402
from cluster_search_bench import stop_all, wait_members  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

DATASET = "bench_hybrid"
VOCABULARY = [f"w{i}" for i in range(2000)]


def words(rng, count: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, count), len(VOCABULARY)) - 1
    return [VOCABULARY[r] for r in ranks]


def corpus(rows: int, dim: int) -> pa.Table:
    rng = np.random.default_rng(3)
    return pa.table({"id": pa.array(np.arange(rows)),
                     "vector": vector_array(rng.standard_normal((rows, dim), dtype=np.float32)),
                     "text": pa.array([" ".join(words(rng, 8)) for _ in range(rows)])})


def run(port: int, queries: np.ndarray, texts: list[str] | None) -> dict:
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    latencies = []
    start = time.perf_counter()
    for i, query in enumerate(queries):
        keys = {"dataset": DATASET, "vector": query.tolist(), "k": 10}
        if texts:
            keys.update(text_query=texts[i], alpha=0.5)
        ticket = flight.Ticket(json.dumps({"search": keys}).encode())
        begin = time.perf_counter()
        client.do_get(ticket).read_all()
        latencies.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - start
    client.close()
    ms = np.array(latencies) * 1000
    return {"qps": len(latencies) / seconds, "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99))}


def measure(binary: str, label: str, workdir: Path, table: pa.Table, queries, texts) -> None:
    os.environ["ARBALEST_BIN"] = binary
    etcd = EtcdProcess(workdir).start()
    nodes = []
    try:
        for i in range(3):
            nodes.append(ServerProcess(workdir / f"node{i}", extra_args=[
                "--log-level", "warn", "--cluster-etcd", etcd.url, "--cluster-name", "bench",
                "--cluster-shards", "4", "--cluster-replication", "2"]).start())
        wait_members(nodes[0], 3)
        put_table(nodes[0].data, DATASET, table, batch_size=5_000)
        wait_ready(nodes[0].data, DATASET, timeout=600)  # every replica of every shard
        run(nodes[0].port, queries[:50], texts[:50])  # warm-up
        for kind, text in (("hybrid", texts), ("dense (control)", None)):
            f = run(nodes[0].port, queries, text)
            print(f"{label:7s} {kind:16s} {f['qps']:7.0f} QPS  p50 {f['p50']:6.2f} ms  "
                  f"p99 {f['p99']:6.2f} ms", flush=True)
    finally:
        stop_all(nodes, etcd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    table = corpus(args.rows, args.dim)
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    texts = [" ".join(words(rng, 2)) for _ in range(args.queries)]
    print(f"{args.rows} rows x {args.dim} float32 + 8-word text, 3 nodes, 4 shards, R 2, k 10, "
          f"{args.queries} queries, one client", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, binary in (("before", args.before), ("after", args.after)):
            workdir = Path(tmp) / label
            workdir.mkdir()
            measure(binary, label, workdir, table, queries, texts)


if __name__ == "__main__":
    main()
