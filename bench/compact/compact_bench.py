"""Compaction benchmark: how long the `compact` action takes on a dataset with 30% of its rows
deleted, against the time the index workers took to build its graph, and what puts and
searches running meanwhile see (ack and search latency before and during the compaction),
against a server started by this script.

Usage: .venv/bin/python bench/compact/compact_bench.py [--rows N] [--dim D] [--deleted F]
       [--bin build/release/arbalest]
Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, scan, vector_array  # noqa: E402


def batch(rng, first, rows, dim):
    return pa.table({"id": pa.array(np.arange(first, first + rows), pa.int64()),
                     "vector": vector_array(rng.standard_normal((rows, dim), dtype=np.float32))})


class Load(threading.Thread):
    """Puts 1000-row batches, or searches, in a loop; records each call's latency (ms) with the
    time it ended."""

    def __init__(self, srv, name, dim, first_id, kind):
        super().__init__(daemon=True)
        self.client = srv.connect()
        self.name, self.dim, self.next_id, self.kind = name, dim, first_id, kind
        self.stop = False
        self.samples: list[tuple[float, float]] = []

    def run(self):
        rng = np.random.default_rng(self.next_id)
        while not self.stop:
            start = time.perf_counter()
            if self.kind == "put":
                put_table(self.client, self.name, batch(rng, self.next_id, 1000, self.dim))
                self.next_id += 1000
            else:
                query = rng.standard_normal(self.dim).tolist()
                scan(self.client, {"search": {"dataset": self.name, "vector": query, "k": 10}})
            end = time.perf_counter()
            self.samples.append((end, (end - start) * 1000))

    def latencies(self, begin, end):
        return [ms for t, ms in self.samples if begin <= t <= end]


def summary(latencies):
    if not latencies:
        return {"calls": 0}
    return {"calls": len(latencies), "median_ms": round(statistics.median(latencies), 2),
            "max_ms": round(max(latencies), 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--deleted", type=float, default=0.3)
    parser.add_argument("--no-load", action="store_true", help="compact with no puts or searches")
    parser.add_argument("--bin", default=None)
    args = parser.parse_args()
    if args.bin:
        os.environ["ARBALEST_BIN"] = args.bin
    rng = np.random.default_rng(1)
    n, name = args.rows, "bench"
    with tempfile.TemporaryDirectory() as workdir:
        srv = ServerProcess(Path(workdir), ["--compact-deleted-fraction", "0", "--fsync", "none",
                                            "--snapshot-interval", "0"]).start()
        start = time.perf_counter()
        for first in range(0, n, 50_000):
            put_table(srv.data, name, batch(rng, first, min(50_000, n - first), args.dim),
                      batch_size=10_000)
        action(srv.data, "check_readiness", {"dataset": name, "wait": 600})
        index_seconds = time.perf_counter() - start
        doomed = rng.choice(n, size=int(args.deleted * n), replace=False)
        for chunk in np.array_split(doomed, 20):
            action(srv.data, "delete", {"dataset": name, "ids": chunk.tolist()})
        before = action(srv.data, "stats", {"dataset": name})[0]

        loads = [] if args.no_load else [Load(srv, name, args.dim, 10 * n, "put"),
                                         Load(srv, name, args.dim, 0, "search")]
        for load in loads:
            load.start()
        time.sleep(2)
        begin = time.perf_counter()
        result = action(srv.data, "compact", {"dataset": name})[0]
        end = time.perf_counter()
        time.sleep(1)
        for load in loads:
            load.stop = True
            load.join()
        after = action(srv.data, "stats", {"dataset": name})[0]
        # With the load on, puts add rows meanwhile: bytes and index bytes then grow.
        print(json.dumps({"rows": n, "dim": args.dim, "deleted": len(doomed),
                          "load": not args.no_load,
                          "index_build_seconds": round(index_seconds, 2),
                          "compact_seconds": round(end - begin, 2),
                          "reclaimed_rows": result["reclaimed_rows"],
                          "reclaimed_bytes": result["reclaimed_bytes"],
                          "bytes": [before["bytes"], after["bytes"]],
                          "index_bytes": [before["index_bytes"], after["index_bytes"]]}))
        for load in loads:
            print(json.dumps({"load": load.kind,
                              "before": summary(load.latencies(begin - 2, begin)),
                              "during": summary(load.latencies(begin, end))}))
        srv.stop()


if __name__ == "__main__":
    main()
