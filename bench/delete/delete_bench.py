"""Delete benchmark: the cost of a delete by id (is_in over the whole id column, then a WAL
record) and what tombstones cost searches, against a running server started by this script.

Usage: .venv/bin/python bench/delete/delete_bench.py [--rows N] [--dim D] [--fsync POLICY]
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
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--fsync", default="always")
    parser.add_argument("--bin", default=None)
    args = parser.parse_args()
    if args.bin:
        os.environ["ARBALEST_BIN"] = args.bin
    rng = np.random.default_rng(1)
    n = args.rows
    table = pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "vector": vector_array(rng.standard_normal((n, args.dim), dtype=np.float32)),
    })
    srv = ServerProcess(Path(tempfile.mkdtemp()), ["--fsync", args.fsync, "--log-level", "warn"])
    srv.start()
    client = srv.data
    put_table(client, "bench", table, batch_size=10_000)
    ready = action(client, "check_readiness", {"dataset": "bench", "wait": 600})[0]
    assert ready["status"] == "READY", ready
    queries = rng.standard_normal((50, args.dim), dtype=np.float32)

    def search_all():
        for q in queries:
            ticket = {"search": {"dataset": "bench", "vector": q.tolist(), "k": 10}}
            client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()

    def report(what, median, worst, **extra):
        print(json.dumps({"what": what, "rows": n, "dim": args.dim, "fsync": args.fsync,
                          "median_ms": round(median, 3), "max_ms": round(worst, 3), **extra}))

    report("50 searches k=10, no deletes", *timed(search_all, 3))
    next_id = iter(rng.permutation(n).tolist())  # spread over the dataset

    def delete(count):
        ids = [next(next_id) for _ in range(count)]
        body = json.dumps({"dataset": "bench", "ids": ids}).encode()
        list(client.do_action(flight.Action("delete", body)))

    report("delete 1 id", *timed(lambda: delete(1), 20))
    report("delete 1000 ids", *timed(lambda: delete(1000), 10))
    # About 10% of the rows deleted, spread over the whole dataset.
    done = 20 + 10 * 1000
    while done < n // 10:
        count = min(10_000, n // 10 - done)
        delete(count)
        done += count
    deleted = json.loads(list(client.do_action(flight.Action(
        "stats", json.dumps({"dataset": "bench"}).encode())))[0].body.to_pybytes())["deleted_rows"]
    report("50 searches k=10, deleted rows", *timed(search_all, 3), deleted_rows=deleted)
    srv.stop()


if __name__ == "__main__":
    main()
