#!/usr/bin/env python3
"""Time to ready after a restart: from snapshots, versus from the WAL alone.

Ingests N x 384 float32 rows (default 200k; --rows 1000000 for the full size), waits until
check_readiness says READY (every row indexed), then:
  1. SIGKILL and restart with no snapshot: WAL replay + HNSW rebuild; time until READY;
  2. `snapshot` action (which also checkpoints the WAL away), SIGKILL and restart: Parquet load
     + mapped graph; time until READY;
  3. RSS of the restarted server, then after one more 1000-row put: a graph mapped from a
     snapshot makes its float16 construction copies (2 bytes per dimension per row) at its first
     insert, so a restarted dataset that is only searched does not hold them.
"Time until READY" runs from starting the process to the first READY answer, so it includes
recovery, opening the ports and indexing whatever was not in the graph. Prints both times, the
ratio, and the command. Not run in CI.

    .venv/bin/python bench/restart/restart_bench.py [--rows N] [--binary build/release/arbalest]
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
from bench_util import (DIM, REPO, memory_bytes, put_random_rows, restart_until_ready,  # noqa: E402
                        wait_ready)

import arbalest_util  # noqa: E402  (on the path through bench_util)
from arbalest_util import ServerProcess, action, stats  # noqa: E402

DATASET = "restart_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--binary", default=str(REPO / "build" / "release" / "arbalest"))
    parser.add_argument("--timeout", type=float, default=3600.0, help="per wait for READY")
    args = parser.parse_args()
    os.environ["ARBALEST_BIN"] = args.binary
    arbalest_util.READY_TIMEOUT_S = args.timeout  # recovery runs before the ports open
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])

    with tempfile.TemporaryDirectory(prefix="arbalest_restart_bench_") as work:
        srv = ServerProcess(Path(work), ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
                                         "--log-level", "info"])
        srv.start()
        t0 = time.monotonic()
        put_random_rows(srv.data, DATASET, args.rows, seed=1)
        ingest_s = time.monotonic() - t0
        wait_ready(srv.data, DATASET, args.timeout)
        build_s = time.monotonic() - t0
        memory = memory_bytes(srv.proc.pid)
        graph_bytes = stats(srv.data, DATASET)["index_graph_bytes"]

        wal_s, wal_log = restart_until_ready(srv, DATASET, args.rows, args.timeout)

        t0 = time.monotonic()
        snapshot = action(srv.data, "snapshot", {"dataset": DATASET})[0]["snapshot"][0]
        snapshot_s = time.monotonic() - t0
        snap_s, snap_log = restart_until_ready(srv, DATASET, args.rows, args.timeout)
        restarted_rss = memory_bytes(srv.proc.pid)["rss"]
        put_random_rows(srv.data, DATASET, 1000, seed=2, first_id=args.rows)
        wait_ready(srv.data, DATASET, args.timeout)
        inserted_rss = memory_bytes(srv.proc.pid)["rss"]
        srv.stop()

    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"# command: {command}")
    print(f"rows                          {args.rows} x {DIM} float32")
    print(f"ingest                        {ingest_s:8.2f} s")
    print(f"ingest until READY            {build_s:8.2f} s")
    raw = args.rows * DIM * 4
    print(f"peak RSS until READY          {memory['peak'] / 2**20:8.0f} MiB = "
          f"{memory['peak'] / (raw + graph_bytes):.2f} x (raw vectors {raw / 2**20:.0f} MiB + "
          f"graph {graph_bytes / 2**20:.0f} MiB); RSS at READY {memory['rss'] / 2**20:.0f} MiB")
    print(f"snapshot action               {snapshot_s:8.2f} s "
          f"({snapshot['bytes'] / 2**20:.0f} MiB, {snapshot['indexed_rows']} rows in the graph)")
    print(f"restart, WAL only, to READY   {wal_s:8.2f} s   [{wal_log}]")
    print(f"restart, snapshot, to READY   {snap_s:8.2f} s   [{snap_log}]")
    print(f"speedup                       {wal_s / snap_s:8.1f} x")
    copies = args.rows * DIM * 2
    print(f"RSS after the snapshot restart {restarted_rss / 2**20:7.0f} MiB; after a 1000-row put "
          f"{inserted_rss / 2**20:.0f} MiB (+{(inserted_rss - restarted_rss) / 2**20:.0f} MiB; "
          f"float16 copies of the graph's rows: {copies / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
