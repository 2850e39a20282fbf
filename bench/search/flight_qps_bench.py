"""Builds against each other over Flight, end to end: the same vectors put into each `arbalest`
binary in turn, time to READY, then QPS and recall@10 of DoGet searches at a sweep of efs,
with the QPS at recall 0.95 interpolated between efs. Binaries alternate (--reps rounds of
all of them) so that the machine's noise falls on all alike.

Data: an .fbin file (--base, --query-file; int32 rows, int32 dim, float32 values, as
bench/data/fashion_mnist.py writes) or clustered vectors (--rows, --dim) made by the recipe of
tests/index/clustered_data.h: 64 Gaussian centres, each point its centre plus a combination of
32 directions of its cluster plus N(0, 0.05^2) noise; queries from the same clusters.
Ground truth: exact L2 top-10 by numpy (the datasets use the default metric, l2).

    .venv/bin/python bench/search/flight_qps_bench.py --rows 1000000 --dim 384 \
        --binary before=<old build>/arbalest --binary after=build/release/arbalest --reps 2
    .venv/bin/python bench/search/flight_qps_bench.py --base data/fashion-mnist/base.fbin \
        --query-file data/fashion-mnist/queries.fbin --binary ... --binary ...

One client thread in this process (JSON tickets, Arrow decoding): its cost is part of every
figure alike. Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "search"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_util import wait_ready  # noqa: E402
from arbalest_util import ServerProcess, put_table, vector_array  # noqa: E402
from wordnet_flight_bench import K, at_recall, recall, run_queries  # noqa: E402


def read_fbin(path: Path, limit: int = 0) -> np.ndarray:
    header = np.fromfile(path, dtype="<i4", count=2)
    rows, dim = int(header[0]), int(header[1])
    if limit:
        rows = min(rows, limit)
    return np.fromfile(path, dtype="<f4", count=rows * dim, offset=8).reshape(rows, dim)


def clustered(rows: int, dim: int, seed: int, centres_seed: int = 0, clusters: int = 64,
              intrinsic: int = 32) -> np.ndarray:
    """The recipe of tests/index/clustered_data.h (not its exact numbers): flat Gaussian
    clusters with a low intrinsic dimension, like real embeddings."""
    shape_rng = np.random.default_rng(centres_seed)
    centres = shape_rng.standard_normal((clusters, dim), dtype=np.float32)
    bases = shape_rng.standard_normal((clusters, intrinsic, dim), dtype=np.float32)
    bases /= np.sqrt(intrinsic)  # a spread of about 1 per coordinate
    rng = np.random.default_rng(seed)
    out = np.empty((rows, dim), dtype=np.float32)
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        which = rng.integers(0, clusters, n)
        coords = rng.standard_normal((n, intrinsic), dtype=np.float32)
        part = centres[which] + 0.05 * rng.standard_normal((n, dim), dtype=np.float32)
        for c in range(clusters):
            mine = which == c
            part[mine] += coords[mine] @ bases[c]
        out[start:start + n] = part
    return out


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of each query's k nearest base rows by L2, nearest first."""
    best_d = np.full((len(queries), k), np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    q_norms = (queries * queries).sum(1)[:, None]
    for start in range(0, len(base), 100_000):
        chunk = base[start:start + 100_000]
        d = q_norms - 2 * queries @ chunk.T + (chunk * chunk).sum(1)[None, :]
        both_d = np.concatenate([best_d, d], axis=1)
        both_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(chunk)),
                                                         d.shape)], axis=1)
        keep = np.argpartition(both_d, k, axis=1)[:, :k]
        best_d = np.take_along_axis(both_d, keep, 1)
        best_i = np.take_along_axis(both_i, keep, 1)
    order = np.argsort(best_d, axis=1)
    return np.take_along_axis(best_i, order, 1)


def run_binary(binary: Path, base: np.ndarray, queries: np.ndarray, truth: np.ndarray,
               efs: list[int], extra_args: list[str], metadata: dict[str, str]) -> dict:
    os.environ["ARBALEST_BIN"] = str(binary)
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(Path(workdir), extra_args=extra_args).start()
        try:
            name = "bench"
            dim = base.shape[1]
            schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), dim))],
                               metadata=metadata or None)
            start = time.perf_counter()
            for first in range(0, len(base), 100_000):  # table by table: one copy at a time
                part = base[first:first + 100_000]
                table = pa.Table.from_arrays(
                    [pa.array(np.arange(first, first + len(part)), pa.int64()),
                     vector_array(part)], schema=schema)
                put_table(server.data, name, table, batch_size=10_000)
            acked = time.perf_counter() - start
            wait_ready(server.meta, name, timeout=7200)
            ready = time.perf_counter() - start
            vectors = [q.tolist() for q in queries]
            sweep = []
            for ef in efs:
                requests = [{"dataset": name, "vector": v, "k": K, "ef": ef} for v in vectors]
                got, latency, wall = run_queries(server.port, requests, 1)
                sweep.append((ef, recall(got, truth), len(requests) / wall,
                              np.percentile(latency, 50) * 1e3))
            return {"acked": acked, "ready": ready, "sweep": sweep}
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", action="append", required=True,
                        help="NAME=PATH of an arbalest binary; give two or more")
    parser.add_argument("--base", type=Path, help=".fbin base vectors (else clustered)")
    parser.add_argument("--query-file", type=Path, help=".fbin queries (with --base)")
    parser.add_argument("--rows", type=int, default=0,
                        help="clustered rows (default 100000), or the first rows of --base")
    parser.add_argument("--dim", type=int, default=384, help="clustered dimension")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--efs", default="16,24,32,48,64,96,128,192")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--server-arg", action="append", default=[],
                        help="an extra `serve` flag for every binary (repeatable)")
    parser.add_argument("--metadata", action="append", default=[],
                        help="KEY=VALUE of the dataset's schema metadata (repeatable), e.g. "
                             "longbow.index.build_precision=float16 for what builds compare")
    args = parser.parse_args()
    metadata = dict(m.split("=", 1) for m in args.metadata)
    binaries = [(b.split("=", 1)[0], Path(b.split("=", 1)[1]).resolve()) for b in args.binary]
    efs = [int(e) for e in args.efs.split(",")]
    print("command:", " ".join([Path(sys.executable).name] + sys.argv))

    if args.base:
        base = read_fbin(args.base, args.rows)
        queries = read_fbin(args.query_file, args.queries)
        source = f"{args.base.name}"
    else:
        base = clustered(args.rows or 100_000, args.dim, seed=1)
        queries = clustered(args.queries, args.dim, seed=2)
        source = "clustered (64 centres, intrinsic dim 32)"
    start = time.perf_counter()
    truth = exact_top_k(base, queries, K)
    print(f"data: {source}, {base.shape[0]} x {base.shape[1]}, {len(queries)} queries; "
          f"exact top-{K} in {time.perf_counter() - start:.1f} s", flush=True)

    results: dict[str, list[dict]] = {name: [] for name, _ in binaries}
    for rep in range(args.reps):
        for name, path in binaries:
            r = run_binary(path, base, queries, truth, efs, args.server_arg, metadata)
            results[name].append(r)
            print(f"\nround {rep + 1}, {name}: acked {r['acked']:.1f} s, READY {r['ready']:.1f} s "
                  f"({len(base) / r['ready']:.0f} rows/s end to end)")
            print(f"  {'ef':>5} {'recall@10':>9} {'QPS':>7} {'p50 ms':>7}")
            for ef, rec, qps, p50 in r["sweep"]:
                print(f"  {ef:>5} {rec:9.3f} {qps:7.0f} {p50:7.2f}")
            got = at_recall([(ef, rec, qps) for ef, rec, qps, _ in r["sweep"]], 0.95)
            r["qps95"] = got[0] if got else None
            print("  QPS at recall 0.95: " + (f"{got[0]:.0f} (ef <= {got[1]})" if got
                                               else "not reached"), flush=True)

    print("\nsummary (per round):")
    print(f"  {'binary':<12} {'READY s':>16} {'rows/s to READY':>20} {'QPS at 0.95':>18}")
    for name, runs in results.items():
        ready = ", ".join(f"{r['ready']:.1f}" for r in runs)
        rate = ", ".join(f"{len(base) / r['ready']:.0f}" for r in runs)
        qps = ", ".join(f"{r['qps95']:.0f}" if r["qps95"] else "-" for r in runs)
        print(f"  {name:<12} {ready:>16} {rate:>20} {qps:>18}")
    first = binaries[0][0]
    for name, runs in results.items():
        if name == first:
            continue
        ratios = [r["qps95"] / b["qps95"] for r, b in zip(runs, results[first])
                  if r["qps95"] and b["qps95"]]
        build = [b["ready"] / r["ready"] for r, b in zip(runs, results[first])]
        print(f"  {name} / {first}: QPS at 0.95 " + ", ".join(f"{x:.3f}" for x in ratios)
              + "; build rate " + ", ".join(f"{x:.3f}" for x in build))


if __name__ == "__main__":
    main()
