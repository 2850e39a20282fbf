#!/usr/bin/env python3
"""Soak: a real server under a steady mixed load for a set time, sampled once a minute; fails
when its memory or its search latency drifts. Run through scripts/soak.sh (not run by CI).

The load, against one dataset held near --rows live rows (64-d float32, a utf8 tag):
  - puts of 1,000-row batches, one a second (the oldest rows are deleted as new ones come,
    so the live row count stays flat and every row is eventually deleted and compacted away);
  - deletes of the oldest rows by id, 1,000 at a time;
  - k=10 searches from --searchers threads (a third filtered on the tag);
  - a `snapshot` action every 45 s, and snapshots every 128 MiB of WAL (checkpoints);
  - a `compact` action every 60 s, and background compactions (deleted fraction 0.2);
  - a second, small dataset dropped and re-created every minute.

Each minute: the server's RSS (/proc/<pid>/status), the searches' p50 and p99 latency (client
side, over that minute), the rows put and deleted, the live and deleted rows, the data
directory's size. The first --warmup minutes fill the dataset and build its index; the samples
after that are compared with the first one after it (the baseline):
  - RSS drift: every later RSS must stay within baseline x --rss-ratio + 64 MiB;
  - p99 drift: the median p99 of the second half of the run must stay within baseline p99 x
    --p99-ratio + 5 ms (a loaded 2-core machine makes single minutes noisy).
Any failed request (other than a refusal the server documents as retryable) or a server exit
also fails the soak. Prints the table, the verdict and the command.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

from arbalest_util import ServerProcess, action  # noqa: E402

DIM = 64
BATCH_ROWS = 1_000
TAGS = ["news", "blog", "paper"]


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 600, 10m, 1h)")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def make_batch(first_id: int, rng) -> pa.RecordBatch:
    ids = np.arange(first_id, first_id + BATCH_ROWS)
    vectors = rng.standard_normal((BATCH_ROWS, DIM), dtype=np.float32)
    return pa.RecordBatch.from_pydict({
        "id": pa.array(ids, pa.int64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        "tag": pa.array([TAGS[i % 3] for i in ids]),
    })


class Load:
    """The client threads and what they counted since the last sample."""

    def __init__(self, port: int, target_rows: int, searchers: int):
        self.port, self.target_rows = port, target_rows
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.put_rows = self.deleted_rows = self.searches = 0
        self.snapshots = self.compactions = self.recreations = 0
        self.errors: list[str] = []
        self.next_id = 0
        self.oldest_id = 0  # rows below it were deleted
        self.threads = [threading.Thread(target=self.guard, args=(f,), daemon=True)
                        for f in [self.put_loop, self.delete_loop, self.snapshot_loop,
                                  self.compact_loop, self.churn_loop]
                        + [self.search_loop] * searchers]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def guard(self, loop):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        try:
            loop(client)
        except Exception as error:  # noqa: BLE001 - any failure fails the soak
            if not self.stop.is_set():
                with self.lock:
                    self.errors.append(f"{loop.__name__}: {type(error).__name__}: {error}")
        finally:
            client.close()

    def put_loop(self, client):
        rng = np.random.default_rng(1)
        while not self.stop.is_set():
            with self.lock:
                first = self.next_id
                self.next_id += BATCH_ROWS
            batch = make_batch(first, rng)
            writer, reader = client.do_put(flight.FlightDescriptor.for_path("soak"), batch.schema)
            writer.write_batch(batch)
            reader.read()
            writer.close()
            with self.lock:
                self.put_rows += BATCH_ROWS
            time.sleep(1.0)

    def delete_loop(self, client):
        while not self.stop.is_set():
            with self.lock:
                live = self.next_id - self.oldest_id
                first = self.oldest_id
            if live <= self.target_rows:
                time.sleep(0.1)
                continue
            ids = list(range(first, first + BATCH_ROWS))
            action(client, "delete", {"dataset": "soak", "ids": ids})
            with self.lock:
                self.oldest_id += BATCH_ROWS
                self.deleted_rows += BATCH_ROWS

    def search_loop(self, client):
        rng = np.random.default_rng(threading.get_ident() % 1000)
        while not self.stop.is_set():
            query = {"dataset": "soak", "vector": rng.standard_normal(DIM).tolist(), "k": 10}
            if rng.random() < 1 / 3:
                query["filters"] = [{"field": "tag", "op": "=", "value": "paper"}]
            ticket = flight.Ticket(json.dumps({"search": query}).encode())
            start = time.perf_counter()
            try:
                client.do_get(ticket).read_all()
            except KeyError:  # before the first put
                time.sleep(0.1)
                continue
            elapsed = time.perf_counter() - start
            with self.lock:
                self.latencies.append(elapsed)
                self.searches += 1

    def every(self, seconds: float, call):
        while not self.stop.wait(seconds):
            call()

    def snapshot_loop(self, client):
        def snapshot():
            action(client, "snapshot", {"dataset": "soak"})
            with self.lock:
                self.snapshots += 1
        self.every(45, snapshot)

    def compact_loop(self, client):
        def compact():
            action(client, "compact", {"dataset": "soak"})
            with self.lock:
                self.compactions += 1
        self.every(60, compact)

    def churn_loop(self, client):
        rng = np.random.default_rng(2)

        def recreate():
            with contextlib.suppress(KeyError):
                action(client, "delete-dataset", {"dataset": "churn"})
            batch = make_batch(0, rng)
            writer, reader = client.do_put(flight.FlightDescriptor.for_path("churn"), batch.schema)
            writer.write_batch(batch)
            reader.read()
            writer.close()
            with self.lock:
                self.recreations += 1
        recreate()
        self.every(60, recreate)

    def take_sample(self) -> dict:
        with self.lock:
            latencies = np.array(self.latencies) * 1000
            sample = {"searches": self.searches, "put_rows": self.put_rows,
                      "deleted_rows": self.deleted_rows, "snapshots": self.snapshots,
                      "compactions": self.compactions,
                      "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else 0.0,
                      "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else 0.0}
            self.latencies.clear()
            self.searches = self.put_rows = self.deleted_rows = 0
        return sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("duration", type=parse_duration, help="e.g. 600, 10m, 1h")
    parser.add_argument("--rows", type=int, default=100_000, help="live rows held (100000)")
    parser.add_argument("--searchers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3, help="minutes before the baseline (3)")
    parser.add_argument("--rss-ratio", type=float, default=1.25)
    parser.add_argument("--p99-ratio", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="arbalest_soak_"))
    srv = ServerProcess(workdir, ["--snapshot-wal-bytes", "128MiB", "--snapshot-interval", "0"])
    srv.start()
    load = Load(srv.port, options.rows, options.searchers)
    load.start()
    samples = []
    print(f"soak: {options.duration / 60:.1f} min, {options.rows} live rows x {DIM}-d, "
          f"{options.searchers} searchers; server pid {srv.proc.pid}, data {srv.data_dir}",
          flush=True)
    print(f"{'min':>4} {'RSS MiB':>8} {'p50 ms':>7} {'p99 ms':>7} {'searches':>9} "
          f"{'put rows':>9} {'deleted':>8} {'live':>8} {'deleted':>8} {'snaps':>5} "
          f"{'compact':>7} {'disk MiB':>8}", flush=True)
    start = time.monotonic()
    failure = None
    while time.monotonic() - start < options.duration:
        time.sleep(max(0.0, start + options.interval * (len(samples) + 1) - time.monotonic()))
        if not srv.alive():
            failure = f"the server exited with code {srv.proc.returncode}"
            break
        sample = load.take_sample()
        sample["rss"] = rss_bytes(srv.proc.pid)
        stats = action(srv.connect(), "stats", {"dataset": "soak"})[0]
        sample["live"], sample["stored_deleted"] = stats["rows"], stats["deleted_rows"]
        sample["disk"] = dir_bytes(srv.data_dir)
        samples.append(sample)
        print(f"{len(samples):>4} {sample['rss'] / 2**20:>8.0f} {sample['p50_ms']:>7.2f} "
              f"{sample['p99_ms']:>7.2f} {sample['searches']:>9} {sample['put_rows']:>9} "
              f"{sample['deleted_rows']:>8} {sample['live']:>8} {sample['stored_deleted']:>8} "
              f"{sample['snapshots']:>5} {sample['compactions']:>7} "
              f"{sample['disk'] / 2**20:>8.0f}", flush=True)
        if load.errors:
            failure = "requests failed: " + "; ".join(load.errors[:3])
            break
    load.finish()
    code = srv.stop()
    if failure is None and code != 0:
        failure = f"SIGTERM did not stop the server with 0 (got {code})"
    verdict = failure or check_drift(samples, options)
    print(f"RSS bound: baseline x {options.rss_ratio} + 64 MiB; p99 bound: median p99 of the "
          f"second half <= baseline x {options.p99_ratio} + 5 ms; baseline = minute "
          f"{options.warmup + 1}")
    print(f"verdict: {verdict or 'PASS'}")
    print("command: " + shlex.join(["scripts/soak.sh"] + sys.argv[1:]))
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if verdict else 0


def check_drift(samples: list, options) -> str | None:
    if len(samples) <= options.warmup + 1:
        return f"too short: {len(samples)} samples, need more than {options.warmup + 1}"
    baseline = samples[options.warmup]
    later = samples[options.warmup + 1:]
    rss_bound = baseline["rss"] * options.rss_ratio + (64 << 20)
    for minute, sample in enumerate(later, start=options.warmup + 2):
        if sample["rss"] > rss_bound:
            return (f"RSS drift: minute {minute} {sample['rss'] / 2**20:.0f} MiB > bound "
                    f"{rss_bound / 2**20:.0f} MiB (baseline {baseline['rss'] / 2**20:.0f} MiB)")
    second_half = [s["p99_ms"] for s in samples[len(samples) // 2:]]
    p99 = float(np.median(second_half))
    p99_bound = baseline["p99_ms"] * options.p99_ratio + 5
    if p99 > p99_bound:
        return (f"p99 drift: median p99 of the second half {p99:.2f} ms > bound "
                f"{p99_bound:.2f} ms (baseline {baseline['p99_ms']:.2f} ms)")
    return None


if __name__ == "__main__":
    sys.exit(main())
