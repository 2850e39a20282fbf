"""Replay of a log with many compactions: a dataset of --rows rows is put, then --rounds times
some of its live rows are deleted (--deleted of them) and the `compact` action run; the server
is SIGKILLed (no snapshot was taken) and started again on its data dir. Prints, per binary,
the `compact` action's seconds (mean) and the seconds from the restart until it serves (the
log replayed: with records of row numbers each compaction is replayed where it was logged;
with row keys none is logged, the rows replay uncompacted and are compacted once afterwards),
and the live rows after the restart (which must be the same).

Usage: .venv/bin/python bench/compact/replay_compactions_bench.py [--rows N] [--rounds K]
       [--deleted F] [--dim D] BINARY...
Prints one JSON line per binary.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, stats, vector_array  # noqa: E402


def run(binary: str, args) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="arbalest_replay_compactions_") as work:
        srv = ServerProcess(Path(work), extra_args=[
            "--compact-deleted-fraction", "0", "--snapshot-interval", "0",
            "--snapshot-wal-bytes", "0", "--index-workers", "1"]).start()
        for first in range(0, args.rows, 10_000):
            n = min(10_000, args.rows - first)
            put_table(srv.data, "ds", pa.table({
                "id": pa.array(np.arange(first, first + n), pa.int64()),
                "vector": vector_array(rng.standard_normal((n, args.dim), dtype=np.float32))}))
        live = np.arange(args.rows)
        compact_seconds = []
        for _ in range(args.rounds):
            gone = rng.choice(live, int(len(live) * args.deleted), replace=False)
            action(srv.data, "delete", {"dataset": "ds", "ids": [int(i) for i in gone]})
            live = np.setdiff1d(live, gone)
            start = time.perf_counter()
            action(srv.data, "compact", {"dataset": "ds"})
            compact_seconds.append(time.perf_counter() - start)
        srv.proc.kill()
        srv.proc.wait()
        srv.stop()
        start = time.monotonic()
        srv.start()
        restart = time.monotonic() - start
        after = stats(srv.data, "ds")
        srv.stop()
        assert after["rows"] == len(live), (after, len(live))
        return {"binary": binary, "rows": args.rows, "rounds": args.rounds,
                "compact_s_mean": round(statistics.mean(compact_seconds), 4),
                "restart_to_serving_s": round(restart, 3), "live_rows": after["rows"],
                "deleted_rows_after_restart": after["deleted_rows"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--deleted", type=float, default=0.02)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    for binary in args.binaries:
        print(json.dumps(run(binary, args)), flush=True)


if __name__ == "__main__":
    main()
