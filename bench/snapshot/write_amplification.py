#!/usr/bin/env python3
"""Write amplification of snapshots: bytes the server writes to disk per vector byte ingested.

Ingests N x 384 float32 rows (default 1M) in 10k-row puts (5 per DoPut stream of 50k rows) into a
server running with `--snapshot-wal-bytes 256MiB` (a snapshot round every 256 MiB of WAL), and
reads the server's /proc/<pid>/io write_bytes (everything it caused to be written to the disk:
WAL and snapshots) each time the row count passes a report point. The ratio is write_bytes /
(rows x 384 x 4).

With --paced, the client stops after a stream whenever 256 MiB of WAL have been written since
the dataset's last snapshot, until the snapshot that this triggers is done: one snapshot per
256 MiB of WAL, as with an ingest slower than snapshots. Without it the ingest runs flat out
and a slow snapshot covers several 256 MiB steps at once (fewer, larger snapshots).
With --indexed as well, the client also waits after each stream until every row is in the
graph (READY): an ingest no faster than indexing, so every snapshot writes graphs that hold
every row (flat out, indexing lags far behind the puts and the graphs snapshots write are small).

With --put-latency, each 10k-row put is a DoPut of its own, timed from its start to its ack
(its rows made beforehand); each report line adds the longest put since the previous one, and
the run ends with the puts' p50, p99 and longest. The longest pause a snapshot imposes on puts
is the longest put of a run with snapshots against one without (`--snapshot-wal-bytes 0`), the
same binary one after the other: `--binary snap=<path> --binary nosnap=<path>:0`, a binary's
`:<size>` giving its own --snapshot-wal-bytes.

Unless --no-restart, then waits until READY, takes a `snapshot`, SIGKILLs the server and times
the restart to READY (recovery from that snapshot). Runs each --binary given (label=path) one
after another, so a build and its baseline are measured in the same run. Not run in CI.

    .venv/bin/python bench/snapshot/write_amplification.py --rows 1000000 \\
        --binary new=build/release/arbalest --binary main=<main's build>/arbalest
"""

from __future__ import annotations

import argparse
import os
import statistics
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import (DIM, REPO, put_random_rows, put_seconds, restart_until_ready,  # noqa: E402
                        wait_ready)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

import arbalest_util  # noqa: E402  (on the path through bench_util)
from arbalest_util import ServerProcess, action, stats  # noqa: E402

DATASET = "write_amp"
ROWS_PER_STREAM = 50_000
SNAPSHOT_WAL_BYTES = 256 << 20
RECORD_BYTES = 10_000 * (DIM * 4 + 8)  # a 10k-row put's WAL record, about (vector + id)


def wait_for_due_snapshot(client, rows: int, timeout: float) -> int:
    """After `rows` rows in 10k-row puts (LSN 1 created the dataset, then one per put): when at
    least 256 MiB of WAL (plus a record of margin) came after the dataset's snapshot, waits
    until a snapshot covers them. Returns the snapshots waited for."""
    last_lsn = 1 + rows // 10_000
    waited = 0
    deadline = time.monotonic() + timeout
    while True:
        snapshot_lsn = stats(client, DATASET)["snapshot_lsn"]
        if (last_lsn - max(snapshot_lsn, 1)) * RECORD_BYTES < SNAPSHOT_WAL_BYTES + RECORD_BYTES:
            return waited
        before = snapshot_lsn
        while stats(client, DATASET)["snapshot_lsn"] == before:
            if time.monotonic() > deadline:
                raise SystemExit(f"no snapshot after LSN {before} in {timeout:.0f} s")
            time.sleep(0.05)
        waited += 1


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def snapshot_dir_bytes(data_dir: Path) -> int:
    """Bytes of the files under the snapshot directory (hard links counted once)."""
    seen, total = set(), 0
    for path in (data_dir / "snapshots").rglob("*"):
        if path.is_file():
            st = path.stat()
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


PUT_ROWS = 10_000


def timed_put_tables(count: int, seed: int) -> list[pa.Table]:
    """`count` tables of 10k rows each (ids from 0), made before the timed puts; their vector
    columns are four arrays shared among them, so that the tables hold 60 MB of vectors
    whatever `count`."""
    rng = np.random.default_rng(seed)
    columns = [pa.FixedSizeListArray.from_arrays(
        pa.array(rng.standard_normal(PUT_ROWS * DIM, dtype=np.float32)), DIM) for _ in range(4)]
    return [pa.table({"id": pa.array(np.arange(i * PUT_ROWS, (i + 1) * PUT_ROWS), pa.int64()),
                      "vector": columns[i % len(columns)]})
            for i in range(count)]


def run(label: str, binary: str, rows: int, report: list[int], workdir: Path,
        timeout: float, paced: bool, restart: bool, put_latency: bool,
        snapshot_wal_bytes: str, indexed: bool = False) -> None:
    os.environ["ARBALEST_BIN"] = str(Path(binary).resolve())
    srv = ServerProcess(workdir / label, ["--snapshot-interval", "0", "--snapshot-wal-bytes",
                                          snapshot_wal_bytes, "--log-level", "info"])
    srv.start()
    print(f"[{label}] {binary} --snapshot-wal-bytes {snapshot_wal_bytes}", flush=True)
    print(f"[{label}]     rows   written MiB   vector MiB   amplification   snapshots on disk MiB"
          f"{'   longest put ms' if put_latency else ''}", flush=True)
    step = PUT_ROWS if put_latency else ROWS_PER_STREAM
    tables = timed_put_tables(-(-rows // PUT_ROWS), seed=1) if put_latency else []
    latencies: list[float] = []
    since_report = 0.0
    done = 0
    start = time.monotonic()
    pending = sorted(r for r in report if r <= rows)
    while done < rows:
        n = min(step, rows - done)
        if put_latency:
            latencies.append(put_seconds(srv.data, DATASET, tables[done // PUT_ROWS].slice(0, n)))
            since_report = max(since_report, latencies[-1])
        else:
            put_random_rows(srv.data, DATASET, n, seed=done + 1, first_id=done)
        done += n
        if indexed:
            wait_ready(srv.data, DATASET, timeout)
        if paced:
            wait_for_due_snapshot(srv.data, done, timeout)
        while pending and done >= pending[0]:
            written = write_bytes(srv.proc.pid)
            vector = done * DIM * 4
            longest = f"   {since_report * 1e3:15.0f}" if put_latency else ""
            since_report = 0.0
            print(f"[{label}] {done:8d}   {written / 2**20:11.0f}   {vector / 2**20:10.0f}   "
                  f"{written / vector:13.2f}   {snapshot_dir_bytes(srv.data_dir) / 2**20:21.0f}"
                  f"{longest}", flush=True)
            pending.pop(0)
    ingest_s = time.monotonic() - start
    snapshots = [line for line in srv.stderr().splitlines() if "snapshot of" in line]
    print(f"[{label}] ingest {ingest_s:.1f} s, {len(snapshots)} snapshots", flush=True)
    if put_latency:
        ms = sorted(x * 1e3 for x in latencies)
        print(f"[{label}] puts of {PUT_ROWS} rows: p50 {statistics.median(ms):.0f} ms, "
              f"p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.0f} ms, longest {ms[-1]:.0f} ms, "
              f"over twice the p50 {sum(x > 2 * statistics.median(ms) for x in ms)} of {len(ms)}",
              flush=True)
    if not restart:
        srv.stop()
        return
    wait_ready(srv.data, DATASET, timeout)
    ready_s = time.monotonic() - start
    t0 = time.monotonic()
    action(srv.data, "snapshot", {"dataset": DATASET})
    snapshot_s = time.monotonic() - t0
    restart_s, recovery = restart_until_ready(srv, DATASET, rows, timeout)
    srv.stop()
    print(f"[{label}] READY after {ready_s:.1f} s, final snapshot action {snapshot_s:.1f} s",
          flush=True)
    print(f"[{label}] restart (SIGKILL after the snapshot) to READY: {restart_s:.2f} s "
          f"[{recovery}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--report", type=int, nargs="*", default=[500_000, 1_000_000, 2_000_000])
    parser.add_argument("--binary", action="append",
                        help="label=path[:snapshot-wal-bytes] (repeatable); default "
                             "new=build/release/arbalest, snapshots every 256MiB of WAL")
    parser.add_argument("--workdir", default=None,
                        help="a directory on a real disk (tmpfs counts no write_bytes)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per wait for READY")
    parser.add_argument("--paced", action="store_true",
                        help="one snapshot per 256 MiB of WAL (waits for each)")
    parser.add_argument("--no-restart", action="store_true",
                        help="skip the wait for READY and the restart")
    parser.add_argument("--put-latency", action="store_true",
                        help="time each 10k-row put (a DoPut each); report the longest")
    parser.add_argument("--indexed", action="store_true",
                        help="wait after each stream until every row is indexed (READY)")
    args = parser.parse_args()
    binaries = args.binary or [f"new={REPO / 'build' / 'release' / 'arbalest'}"]
    arbalest_util.READY_TIMEOUT_S = args.timeout
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"# command: {command}")
    print(f"# {args.rows} x {DIM} float32 in 10k-row puts"
          f"{', paced' if args.paced else ''}{', each stream indexed' if args.indexed else ''}")
    with tempfile.TemporaryDirectory(prefix="arbalest_write_amp_", dir=args.workdir) as work:
        for spec in binaries:
            label, _, binary = spec.partition("=")
            binary, _, wal_bytes = binary.partition(":")
            run(label, binary, args.rows, args.report, Path(work), args.timeout, args.paced,
                not args.no_restart, args.put_latency, wal_bytes or "256MiB", args.indexed)


if __name__ == "__main__":
    main()
