#!/usr/bin/env python3
"""Peak memory while ingesting: the server's peak RSS against the raw vector bytes plus the
HNSW graph, with indexed rows sharing their vectors with the graph (the default) and with
--keep-vector-copies (the rows keep the received copy beside the graph's), side by side.

For each mode: starts a server, puts N x 384 float32 rows (ids + vectors) in 10k-row batches
from one stream, waits until check_readiness says READY, and reads the server's peak RSS
(VmHWM) and RSS then. The target of the ingestion issue: peak RSS <= 1.6 x (raw vectors +
graph). Prints a table and the command. Not run in CI.

    .venv/bin/python bench/memory/ingest_memory.py [--rows N] [--binary build/release/arbalest]
        [--server-arg=--segment-max-bytes=32MiB ...] [--build-precision int8]

Also reports the index memory the dataset is charged (stats index_bytes) and its segments: with
sealing on (--segment-max-bytes), sealed segments whose rows are all linked free their build
copies. --build-precision sets the dataset's longbow.index.build_precision (what inserts
compare: int8 codes by default, float16 copies, or the float32 rows).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import BATCH_ROWS, DIM, REPO, memory_bytes, put_random_rows, wait_ready  # noqa: E402,E501

from arbalest_util import ServerProcess, stats  # noqa: E402  (on the path through bench_util)

DATASET = "memory_bench"
MIB = 2**20


def run(binary_args: list[str], rows: int, timeout: float, metadata: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="arbalest_memory_bench_") as work:
        srv = ServerProcess(Path(work), ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
                                         "--fsync", "none", *binary_args])
        srv.start()
        t0 = time.monotonic()
        put_random_rows(srv.data, DATASET, rows, seed=1, metadata=metadata or None)
        ingest_s = time.monotonic() - t0
        wait_ready(srv.data, DATASET, timeout)
        ready_s = time.monotonic() - t0
        st = stats(srv.data, DATASET)
        memory = memory_bytes(srv.proc.pid)
        srv.stop()
    return {"ingest_s": ingest_s, "ready_s": ready_s, "graph": st["index_graph_bytes"],
            "index": st["index_bytes"], "segments": st["segments"],
            "shared": st["shared_vector_rows"], "peak": memory["peak"],
            "rss": memory["rss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--binary", default=str(REPO / "build" / "release" / "arbalest"))
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--server-arg", action="append", default=[],
                        help="an argument for the server (repeat for several)")
    parser.add_argument("--skip-copies", action="store_true",
                        help="measure only the default (not --keep-vector-copies)")
    parser.add_argument("--build-precision", choices=["float16", "int8", "float32"],
                        help="the dataset's longbow.index.build_precision (default: the "
                        "server's, int8)")
    args = parser.parse_args()
    os.environ["ARBALEST_BIN"] = args.binary
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    raw = args.rows * DIM * 4
    metadata = ({"longbow.index.build_precision": args.build_precision}
                if args.build_precision else {})
    results = {"shared (default)": run(args.server_arg, args.rows, args.timeout, metadata)}
    if not args.skip_copies:
        results["--keep-vector-copies"] = run([*args.server_arg, "--keep-vector-copies"],
                                              args.rows, args.timeout, metadata)

    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"# command: {command}")
    print(f"# {args.rows} x {DIM} float32 in {BATCH_ROWS}-row puts, --fsync none; raw vectors "
          f"{raw / MIB:.0f} MiB")
    print(f"{'mode':22} {'ingest s':>9} {'READY s':>8} {'graph MiB':>10} {'shared rows':>12} "
          f"{'peak RSS MiB':>13} {'RSS MiB':>8} {'peak/(raw+graph)':>17} {'index MiB':>10} "
          f"{'segments':>9} {'rows/s to READY':>16}")
    for mode, r in results.items():
        print(f"{mode:22} {r['ingest_s']:9.1f} {r['ready_s']:8.1f} {r['graph'] / MIB:10.0f} "
              f"{r['shared']:12d} {r['peak'] / MIB:13.0f} {r['rss'] / MIB:8.0f} "
              f"{r['peak'] / (raw + r['graph']):17.2f} {r['index'] / MIB:10.0f} "
              f"{r['segments']:9d} {args.rows / r['ready_s']:16.0f}")


if __name__ == "__main__":
    main()
