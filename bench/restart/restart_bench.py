#!/usr/bin/env python3
"""Time to ready after a restart: from snapshots, versus from the WAL alone.

Ingests N x 384 float32 rows (default 200k; --rows 1000000 for the full size), waits until
check_readiness says READY (every row indexed), then:
  1. SIGKILL and restart with no snapshot: WAL replay + HNSW rebuild; time until READY;
  2. `snapshot` action (which also checkpoints the WAL away), SIGKILL and restart: Parquet load
     + mapped graph; time until READY;
  3. RSS of the restarted server, then after one more 1000-row put: a graph mapped from a
     snapshot makes its float16 construction copies (2 bytes per dimension per row) at its first
     insert, so a restarted dataset that is only searched does not hold them;
  4. a second snapshot after that put: the bytes it wrote (/proc/<pid>/io write_bytes), which
     with several segments (--segment-max-bytes) link the sealed segments' graph files.
"Time until READY" runs from starting the process to the first READY answer, so it includes
recovery, opening the ports and indexing whatever was not in the graph. Prints both times, the
ratio, and the command. Not run in CI.

    .venv/bin/python bench/restart/restart_bench.py [--rows N] [--binary build/release/arbalest]
        [--segment-max-bytes 64MiB] [--no-wal-restart]
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
    parser.add_argument("--segment-max-bytes", default=None,
                        help="the server's --segment-max-bytes (default: the binary's)")
    parser.add_argument("--no-wal-restart", action="store_true",
                        help="skip step 1, the restart from the WAL alone")
    args = parser.parse_args()
    os.environ["ARBALEST_BIN"] = args.binary
    arbalest_util.READY_TIMEOUT_S = args.timeout  # recovery runs before the ports open
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])

    with tempfile.TemporaryDirectory(prefix="arbalest_restart_bench_") as work:
        flags = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0", "--log-level", "info"]
        if args.segment_max_bytes is not None:
            flags += ["--segment-max-bytes", args.segment_max_bytes]
        srv = ServerProcess(Path(work), flags)
        srv.start()
        t0 = time.monotonic()
        put_random_rows(srv.data, DATASET, args.rows, seed=1)
        ingest_s = time.monotonic() - t0
        wait_ready(srv.data, DATASET, args.timeout)
        build_s = time.monotonic() - t0
        memory = memory_bytes(srv.proc.pid)
        graph_bytes = stats(srv.data, DATASET)["index_graph_bytes"]

        segments = stats(srv.data, DATASET)["segments"]
        wal_s, wal_log = (None, "skipped") if args.no_wal_restart else restart_until_ready(
            srv, DATASET, args.rows, args.timeout)

        t0 = time.monotonic()
        snapshot = action(srv.data, "snapshot", {"dataset": DATASET})[0]["snapshot"][0]
        snapshot_s = time.monotonic() - t0
        snap_s, snap_log = restart_until_ready(srv, DATASET, args.rows, args.timeout)
        restarted = stats(srv.data, DATASET)
        restarted_rss = memory_bytes(srv.proc.pid)["rss"]
        put_random_rows(srv.data, DATASET, 1000, seed=2, first_id=args.rows)
        wait_ready(srv.data, DATASET, args.timeout)
        inserted_rss = memory_bytes(srv.proc.pid)["rss"]
        written = written_bytes(srv.proc.pid)
        t0 = time.monotonic()
        action(srv.data, "snapshot", {"dataset": DATASET})
        second_s = time.monotonic() - t0
        second_bytes = written_bytes(srv.proc.pid) - written
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
    print(f"segments                      {segments} before the restarts, "
          f"{restarted['segments']} after the snapshot restart")
    if wal_s is not None:
        print(f"restart, WAL only, to READY   {wal_s:8.2f} s   [{wal_log}]")
    print(f"restart, snapshot, to READY   {snap_s:8.2f} s   [{snap_log}]; "
          f"{restarted['index_restored_rows']} rows' graphs mapped")
    if wal_s is not None:
        print(f"speedup                       {wal_s / snap_s:8.1f} x")
    print(f"second snapshot (1000 more rows) {second_s:5.2f} s, "
          f"{second_bytes / 2**20:.1f} MiB written")
    # The build copies inserts compare, remade at the first insert: int8 codes by default (a
    # byte per dimension), float16 copies where the graph fell back to them.
    print(f"RSS after the snapshot restart {restarted_rss / 2**20:7.0f} MiB; after a 1000-row put "
          f"{inserted_rss / 2**20:.0f} MiB (+{(inserted_rss - restarted_rss) / 2**20:.0f} MiB; "
          f"int8 build codes of the graph's rows: {args.rows * DIM / 2**20:.0f} MiB, float16 "
          f"copies {args.rows * DIM * 2 / 2**20:.0f} MiB)")


def written_bytes(pid: int) -> int:
    """The bytes the process has caused to be written to storage (/proc/<pid>/io)."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError(f"no write_bytes in /proc/{pid}/io")


if __name__ == "__main__":
    main()
