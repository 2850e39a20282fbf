#!/usr/bin/env python3
"""The peak RSS of the wide-vector fill of tests/integration/test_memory_limits.py, run N times:
a fresh server under --max-memory 200MiB (the test's FAST flags, --max-dimension 0,
--max-message-size 16MiB) gets 2 rows of 100,000 float32 dimensions, waits until they are
indexed, then 40-row puts (16 MB messages) until one is refused, then waits until every row is
indexed. Per run it prints the rows acked, the peak RSS (VmHWM), the peak above the limit plus
two messages in flight (what README's fixed overhead must cover), and, with --trace, where the
RSS peaked: a sampler reads /proc/<pid>/status every millisecond and logs which put was on the
wire. Not run in CI.

    .venv/bin/python bench/memory/wide_fill_peaks.py [--binary build/release/arbalest ...]
        [--runs 10] [--load 2] [--trace PREFIX] [--env MALLOC_ARENA_MAX=2 ...]

--binary may be given more than once: the binaries take turns, run by run, so that each sees
the same conditions. --load N: N busy-loop processes spin for the whole run (the CI machines
are loaded). --trace PREFIX: each run's RSS samples, with the budget's charge polled beside
them, go to PREFIX.<run>.tsv.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import REPO  # noqa: E402

from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402

MIB = 2**20
LIMIT = 200 * MIB
MESSAGE = 16 * MIB
DIM = 100_000


def wide_table(rows: int, dim: int, start: int = 0) -> pa.Table:
    rng = np.random.default_rng(start + dim)  # as the test makes them
    return pa.table({"id": pa.array(np.arange(start, start + rows), pa.int64()),
                     "vector": vector_array(rng.standard_normal((rows, dim), np.float32))})


def spin() -> None:
    while True:
        pass


class Sampler(threading.Thread):
    """Reads the server's VmRSS every `interval` seconds; remembers the highest and what was
    happening then (`phase`, set by the scenario)."""

    def __init__(self, pid: int, interval: float = 0.001):
        super().__init__(daemon=True)
        self.path = f"/proc/{pid}/status"
        self.interval = interval
        self.phase = "start"
        self.peak = (0, "", 0.0)
        self.stop = False
        self.start_time = time.monotonic()
        self.samples: list[tuple[float, int, str]] = []
        self.charged = 0  # the budget's memory_used_bytes, polled by a Charges thread


    def run(self) -> None:
        while not self.stop:
            try:
                with open(self.path) as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1]) * 1024
                            break
            except OSError:
                return
            now = time.monotonic() - self.start_time
            self.samples.append((now, rss, self.phase, self.charged))
            if rss > self.peak[0]:
                self.peak = (rss, self.phase, now)
            time.sleep(self.interval)


class Charges(threading.Thread):
    """Polls the budget's memory_used_bytes (the stats action) into `sampler.charged`."""

    def __init__(self, srv, sampler: Sampler):
        super().__init__(daemon=True)
        self.client = flight.connect(f"grpc://127.0.0.1:{srv.port}")
        self.sampler = sampler
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            try:
                self.sampler.charged = action(self.client, "stats", {})[0]["memory_used_bytes"]
            except Exception:  # noqa: BLE001 - the server is stopping
                return
            time.sleep(0.002)


def one_run(binary: str, binary_flags: list[str], env: dict[str, str], trace: bool) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory(prefix="arbalest_widefill_") as work:
        srv = ServerProcess(Path(work), ["--fsync", "none", "--snapshot-interval", "0",
                                         "--max-memory", str(LIMIT), "--max-dimension", "0",
                                         "--max-message-size", str(MESSAGE), *binary_flags],
                            env=env)
        srv.start()
        sampler = Sampler(srv.proc.pid)
        sampler.start()
        charges = Charges(srv, sampler) if trace else None
        if charges:
            charges.start()
        try:
            sampler.phase = "put 2"
            put_table(srv.data, "wide", wide_table(2, DIM))
            sampler.phase = "index 2"
            action(srv.data, "check_readiness", {"dataset": "wide", "wait": 60})
            rows = 2
            refused = ""
            for i in range(100):
                table = wide_table(40, DIM, start=rows)
                sampler.phase = f"put #{i + 1}"
                try:
                    put_table(srv.data, "wide", table)
                except flight.FlightUnavailableError as e:
                    refused = str(e).split(". gRPC")[0][:200]
                    break
                rows += 40
            sampler.phase = "index all"
            action(srv.data, "check_readiness", {"dataset": "wide", "wait": 120})
            sampler.phase = "settled"
            time.sleep(0.3)
            charged = action(srv.data, "stats", {})[0].get("memory_used_bytes", 0)
            with open(f"/proc/{srv.proc.pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status)
            hwm = int(fields["VmHWM"].split()[0]) * 1024
            rss = int(fields["VmRSS"].split()[0]) * 1024
        finally:
            sampler.stop = True
            sampler.join()
            if charges:
                charges.stop = True
                charges.join()
            srv.stop()
        result = {"rows": rows, "hwm": hwm, "rss_end": rss, "charged": charged,
                  "peak_phase": sampler.peak[1], "refused": refused}
        if trace:
            result["samples"] = sampler.samples
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy-loop processes")
    parser.add_argument("--trace", help="write each run's RSS samples to this file prefix")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--flag", action="append", default=[], help="an extra server flag")
    args = parser.parse_args()
    binaries = [os.path.abspath(b) for b in args.binary or [REPO / "build" / "release" / "arbalest"]]
    env = dict(kv.split("=", 1) for kv in args.env)
    print(" ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    over: dict[str, list[float]] = {binary: [] for binary in binaries}
    try:
        print("| binary | run | rows acked | peak RSS | above limit + 2 messages | RSS at end "
              "| charged at end | peak while |\n| --- | --- | --- | --- | --- | --- | --- | --- |",
              flush=True)
        for run in range(args.runs):
            for b, binary in enumerate(binaries):
                r = one_run(binary, args.flag, env, bool(args.trace))
                above = r["hwm"] - LIMIT - 2 * MESSAGE
                over[binary].append(above / MIB)
                print(f"| {b + 1} | {run + 1} | {r['rows']} | {r['hwm'] / MIB:.0f} MiB "
                      f"| {above / MIB:.0f} MiB | {r['rss_end'] / MIB:.0f} MiB "
                      f"| {r['charged'] / MIB:.0f} MiB | {r['peak_phase']} |", flush=True)
                if args.trace:
                    with open(f"{args.trace}.{b + 1}.{run + 1}.tsv", "w") as out:
                        for t, rss, phase, charged in r["samples"]:
                            out.write(f"{t:.4f}\t{rss / MIB:.1f}\t{charged / MIB:.1f}\t{phase}\n")
    finally:
        for p in spinners:
            p.terminate()
    for b, binary in enumerate(binaries):
        peaks = sorted(round(x) for x in over[binary])
        print(f"binary {b + 1} ({binary}): peak above limit + 2 messages, MiB, sorted: {peaks}; "
              f"median {statistics.median(peaks):.0f}, max {max(peaks)}", flush=True)


if __name__ == "__main__":
    main()
