"""Ingestion benchmark, side by side in one run, with the disk measured in the same run.

For each vector type (float32, int8) and put size (1k, 10k rows), the same load from one C++
Flight client (bench/ingest/ingest_bench, N concurrent DoPut streams of 384-d vectors) against a
fresh server per measurement:
  - `arbalest serve --null-sink` (Flight decodes and acks, nothing is stored: the ceiling),
  - optionally `--log-sink` at `--fsync none` (`log-sink`) and `always` (`log-always`): each
    batch checked, encoded and written to a log of its own, then acked, nothing stored: the
    bound that the transport plus the log's one copy put on any server that logs its puts,
  - the real server at `--fsync none`, `interval` and `always` (the default), optionally with
    the WAL written through the page cache (`none-buffered`, `always-buffered`,
    `log-buffered`: `--wal-direct-io false`) instead of with direct I/O, and optionally
    `none-idle`: `--fsync none` with the index workers under SCHED_IDLE (close to indexing
    paused while the acks keep the cores busy: what indexing costs the acks),
for each build given (e.g. main's and a branch's), in REPS interleaved repetitions, and the disk's
durable write bandwidth (the same number of bytes written into the data dir's file system with
one fdatasync at the end) before each repetition. Prints the medians: MB/s of vector bytes acked,
`--fsync none` as a fraction of the null-sink ceiling of the same build and configuration, and
`interval` / `always` as a fraction of min(ceiling, disk); and, for 10k-row puts at `--fsync
interval` (and `interval-buffered`), the seconds from the last ack until check_readiness says READY (every row indexed).

Usage:
  .venv/bin/python bench/ingest/ingest_matrix.py [--builds build/release OTHER_BUILD ...]
      [--streams 4] [--rows 200000] [--reps 3] [--types float32,int8] [--batch-rows 1000,10000]
      [--modes null-sink,log-sink,none,interval,always] [--no-ready]
Besides MB/s it prints the CPU seconds per GB acked of the client and of the server and what
the machine's cores allow at that cost: a run whose MB/s is near that figure is CPU-bound.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import DIM, REPO, wait_ready  # noqa: E402

from arbalest_util import ServerProcess  # noqa: E402  (on the path through bench_util)

DATASET = "ingest_bench"  # ingest_bench's default
READY_TIMEOUT_S = 1800
BYTES_PER_VALUE = {"float32": 4, "float16": 2, "int8": 1}


def disk_mb_per_s(directory: Path, nbytes: int, durable: bool = True) -> float:
    """Write bandwidth of one thread: nbytes written in 16 MiB blocks, then one fdatasync
    (durable: with direct I/O, as the WAL writes by default, so nothing is copied into the page
    cache) or through the page cache without a sync (what one writer copies into the page
    cache: the bound of a WAL written through the page cache under --fsync none)."""
    path = directory / "disk-probe"
    block = mmap.mmap(-1, 16 << 20)  # page-aligned, as direct I/O needs
    block.write(os.urandom(16 << 20))
    start = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if durable else 0),
                 0o600)
    try:
        written = 0
        while written < nbytes:
            written += os.write(fd, block)
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)
    seconds = time.monotonic() - start
    path.unlink()
    return written / seconds / 1e6


def start_server(build: Path, work: Path, flags: list[str]) -> ServerProcess:
    """`build`'s arbalest on free loopback ports with a fresh data dir under `work`."""
    os.environ["ARBALEST_BIN"] = str((build / "arbalest").resolve())  # ServerProcess.start
    return ServerProcess(Path(tempfile.mkdtemp(dir=work)), ["--log-level", "warn", *flags]).start()


def stop_server(server: ServerProcess) -> None:
    server.stop()
    shutil.rmtree(server.workdir)


def index_workers_idle(server: ServerProcess) -> bool:
    """Puts the index workers (threads named arb-index; the threads they start inherit it)
    under SCHED_IDLE: they run only when no other thread wants a core, which on a busy machine
    is close to indexing paused. For measuring what indexing costs the acks. False when the
    build names no thread arb-index (builds before thread names)."""
    tasks = Path(f"/proc/{server.proc.pid}/task")
    workers = [t.name for t in tasks.iterdir() if (t / "comm").read_text().strip() ==
               "arb-index"]
    for tid in workers:
        subprocess.run(["chrt", "--idle", "-p", "0", tid], check=True)
    return bool(workers)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of every thread of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest(build: Path, server: ServerProcess, args, vector_type: str, batch_rows: int) -> dict:
    """One ingest; adds the CPU seconds per GB acked of the client and of the server (all its
    threads, the index workers included) while the client ran."""
    batches = max(1, args.rows // args.streams // batch_rows)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_cpu_seconds(server.proc.pid)
    out = subprocess.run(
        [str(build / "bench" / "ingest_bench"), "--port", str(server.port), "--streams",
         str(args.streams), "--batches", str(batches), "--rows", str(batch_rows), "--dim",
         str(DIM), "--type", vector_type], check=True, capture_output=True, text=True).stdout
    server_cpu = process_cpu_seconds(server.proc.pid) - server_before
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (client_after.ru_utime + client_after.ru_stime - client_before.ru_utime -
                  client_before.ru_stime)
    row = json.loads(out)
    gb = row["vector_MBps"] * row["seconds"] / 1000
    row["client_s_per_gb"] = client_cpu / gb
    row["server_s_per_gb"] = server_cpu / gb
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", nargs="+", default=["build/release"])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per run, all streams")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--types", default="float32,int8")
    parser.add_argument("--batch-rows", default="1000,10000")
    parser.add_argument("--modes", default="null-sink,none,interval,always")
    parser.add_argument("--no-ready", action="store_true",
                        help="skip the time to READY (the longest part)")
    args = parser.parse_args()
    # "label=path" or a path (its own label).
    labels = {Path(b.split("=", 1)[-1]): b.split("=", 1)[0] for b in args.builds}
    builds = list(labels)
    types = args.types.split(",")
    sizes = [int(n) for n in args.batch_rows.split(",")]
    modes = args.modes.split(",")
    flags = {"null-sink": ["--null-sink"], "log-sink": ["--log-sink", "--fsync", "none"],
             "log-always": ["--log-sink", "--fsync", "always"], "none": ["--fsync", "none"],
             "log-buffered": ["--log-sink", "--fsync", "none", "--wal-direct-io", "false"],
             "none-buffered": ["--fsync", "none", "--wal-direct-io", "false"],
             "always-buffered": ["--fsync", "always", "--wal-direct-io", "false"],
             "interval-buffered": ["--fsync", "interval", "--wal-direct-io", "false"],
             "none-idle": ["--fsync", "none"],
             "interval": ["--fsync", "interval"], "always": ["--fsync", "always"]}

    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    print("# command: .venv/bin/python bench/ingest/ingest_matrix.py " + " ".join(sys.argv[1:]))
    results: dict[tuple, list[dict]] = {}
    disk: list[float] = []
    page_cache: list[float] = []
    with tempfile.TemporaryDirectory(dir=REPO / "build") as tmp:
        work = Path(tmp)
        for rep in range(args.reps):
            for vector_type in types:
                probe_bytes = args.rows * DIM * BYTES_PER_VALUE[vector_type]
                disk.append(disk_mb_per_s(work, probe_bytes))
                page_cache.append(disk_mb_per_s(work, probe_bytes, durable=False))
                for batch_rows in sizes:
                    for build in builds:
                        for mode in modes:
                            server = start_server(build, work, flags[mode])
                            if mode == "none-idle" and not index_workers_idle(server):
                                stop_server(server)
                                continue
                            try:
                                row = ingest(build, server, args, vector_type, batch_rows)
                                if (mode.startswith("interval") and batch_rows == max(sizes)
                                        and not args.no_ready):
                                    start = time.monotonic()
                                    wait_ready(server.data, DATASET, READY_TIMEOUT_S)
                                    row["ready_s"] = time.monotonic() - start
                            finally:
                                stop_server(server)
                            results.setdefault((vector_type, batch_rows, str(build), mode),
                                               []).append(row)
                            print(f"  rep {rep + 1} {vector_type} {batch_rows} {labels[build]} "
                                  f"{mode}: {row['vector_MBps']:.1f} MB/s", file=sys.stderr)
            disk.append(disk_mb_per_s(work, args.rows * DIM * 4))

    disk_median = statistics.median(disk)
    print(f"# disk: durable write (direct I/O, one fdatasync) {disk_median:.0f} MB/s median of {len(disk)} "
          f"(min {min(disk):.0f}, max {max(disk):.0f}), measured between the runs")
    print(f"# page cache: one thread writes {statistics.median(page_cache):.0f} MB/s without "
          f"fdatasync, median of {len(page_cache)} (min {min(page_cache):.0f}, max "
          f"{max(page_cache):.0f}): a WAL written through the page cache, at --fsync none")
    print(f"# medians of {args.reps} interleaved repetitions; {args.streams} streams, "
          f"{args.rows} rows per run; bound: null-sink ceiling for none, min(ceiling, disk) "
          "for interval and always")
    print("# cli/srv: CPU seconds per GB acked of the client and of the server (every thread);"
          f" cpu_MB/s: what {os.cpu_count()} cores allow at that cost, "
          f"{os.cpu_count()} x 1000 / (cli + srv)")
    print(f"{'type':8} {'rows':>6} {'build':24} {'mode':10} {'MB/s':>8} {'bound':>7} "
          f"{'of bound':>8} {'p50_ms':>8} {'ready_s':>8} {'cli':>5} {'srv':>5} {'cpu_MB/s':>8}")
    for vector_type in types:
        for batch_rows in sizes:
            for build in builds:
                ceiling = None
                for mode in modes:
                    rows = results.get((vector_type, batch_rows, str(build), mode))
                    if not rows:
                        continue
                    mbps = statistics.median(r["vector_MBps"] for r in rows)
                    p50 = statistics.median(r["p50_ms"] for r in rows)
                    ready = [r["ready_s"] for r in rows if "ready_s" in r]
                    cli = statistics.median(r["client_s_per_gb"] for r in rows)
                    srv = statistics.median(r["server_s_per_gb"] for r in rows)
                    if mode == "null-sink":
                        ceiling = mbps
                    bound = (ceiling if mode.startswith(("none", "log-sink", "log-buffered")) else
                             min(ceiling, disk_median) if ceiling and mode != "null-sink"
                             else None)
                    share = f"{100 * mbps / bound:7.0f}%" if bound else f"{'-':>8}"
                    print(f"{vector_type:8} {batch_rows:6} {labels[build][-24:]:24} {mode:10} "
                          f"{mbps:8.1f} {bound or 0:7.0f} {share} {p50:8.1f} "
                          f"{statistics.median(ready) if ready else float('nan'):8.1f} "
                          f"{cli:5.2f} {srv:5.2f} {os.cpu_count() * 1000 / (cli + srv):8.0f}")


if __name__ == "__main__":
    main()
