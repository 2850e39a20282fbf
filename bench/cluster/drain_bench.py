"""A node leaving a 3-node cluster on this one machine: SIGTERM (the drain hands its shards over,
docs/cluster.md "Drain") against SIGKILL (failover once its lease expires), seen from a client
that keeps putting through another node.

Three nodes (--cluster-lease-ttl from --lease-ttl, default 2 s; 4 shards, R as given, W=R);
--rows random float32 rows of --dim dimensions put through node 0; then a client puts batches of 100 new rows through node 0,
one after another, while node 2 is sent the signal. Measured from the signal: the time until
node 2 exits (SIGTERM), until no shard map names it and every shard has a full primary on a
live node ("map clean"), and until every shard has R full replicas again; and the client's
puts in the 10 s after the signal: how many failed, p50/p99/max latency, and the longest time
between two acks (the unavailability the client saw). Every process shares this machine's
cores. ARBALEST_BIN picks the binary (an older one without the drain leaves at once on
SIGTERM).

    .venv/bin/python bench/cluster/drain_bench.py [--rows 50000] [--dim 128] [--replication 2]
        [--signals TERM,KILL] [--lease-ttl 2]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from catchup_bench import status  # noqa: E402
from cluster_search_bench import stop_all, wait_members  # noqa: E402
from arbalest_util import ServerProcess, make_table, put_table  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

DATASET = "drain"
WINDOW_S = 10.0


class Putter(threading.Thread):
    def __init__(self, node, dim, start_id):
        super().__init__(daemon=True)
        self.node, self.dim, self.next_id = node, dim, start_id
        self.calls = []  # (start, end, ok)
        self.errors = []
        self.stop_event = threading.Event()

    def run(self):
        rng = np.random.default_rng(7)
        client = self.node.connect()
        while not self.stop_event.is_set():
            table = make_table(100, d=self.dim, start_id=self.next_id, extra=False, rng=rng)
            self.next_id += 100
            begin = time.perf_counter()
            try:
                put_table(client, DATASET, table)
                ok = True
            except Exception as e:  # noqa: BLE001 - every failure counts the same here
                ok = False
                self.errors.append(str(e)[:200])
            self.calls.append((begin, time.perf_counter(), ok))


def map_of(node):
    return {m["dataset"]: m for m in status(node)["shard_maps"]}[DATASET]


def clean(m, gone) -> bool:
    return all(gone not in s["replicas"] and s["primary"] not in s["syncing"]
               for s in m["placement"])


def full(m, gone, r) -> bool:
    return clean(m, gone) and all(len(s["replicas"]) == r and not s["syncing"]
                                  for s in m["placement"])


def run(tmp: Path, args, sig) -> None:
    etcd = EtcdProcess(tmp).start()

    def node(i):
        return ServerProcess(tmp / f"node{i}", extra_args=[
            "--log-level", args.log_level, "--cluster-etcd", etcd.url, "--cluster-name", "bench",
            "--node-id", f"n{i}", "--cluster-lease-ttl", str(args.lease_ttl), "--cluster-shards", "4",
            "--cluster-replication", str(args.replication)]).start()

    nodes = [node(i) for i in range(3)]
    try:
        for n in nodes:
            wait_members(n, 3)
        put_table(nodes[0].data, DATASET,
                  make_table(args.rows, d=args.dim, extra=False, rng=np.random.default_rng(5)),
                  batch_size=5000)
        putter = Putter(nodes[0], args.dim, args.rows)
        putter.start()
        time.sleep(2.0)
        t0 = time.perf_counter()
        nodes[2].proc.send_signal(sig)
        exited = map_clean = replicas_full = None
        while time.perf_counter() - t0 < 60 and (map_clean is None or replicas_full is None
                                                   or exited is None):
            now = time.perf_counter() - t0
            if exited is None and nodes[2].proc.poll() is not None:
                exited = now
            m = map_of(nodes[0])
            if map_clean is None and clean(m, "n2"):
                map_clean = now
            if replicas_full is None and full(m, "n2", args.replication):
                replicas_full = now
            time.sleep(0.02)
        time.sleep(max(0.0, WINDOW_S - (time.perf_counter() - t0)))
        putter.stop_event.set()
        putter.join(30)
        window = [c for c in putter.calls if t0 <= c[0] <= t0 + WINDOW_S]
        latencies = np.array([(end - begin) * 1000 for begin, end, _ in window])
        acks = [t0] + [end for _, end, ok in window if ok]
        gap = max(b - a for a, b in zip(acks, acks[1:])) if len(acks) > 1 else WINDOW_S
        failed = sum(1 for *_, ok in window if not ok)

        def secs(value):
            return "-" if value is None else f"{value:.2f} s"

        print(f"SIG{sig.name[3:]} R={args.replication}: exit {secs(exited)}, map clean "
              f"{secs(map_clean)}, R full replicas {secs(replicas_full)}; puts in {WINDOW_S:.0f} "
              f"s: {len(window)} calls, {failed} failed, latency p50 "
              f"{np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms,"
              f" max {latencies.max():.0f} ms; longest gap between acks {gap * 1000:.0f} ms",
              flush=True)
        for error in sorted(set(putter.errors))[:3]:
            print(f"  a failed put: {error}")
        if args.log_level == "info":
            for line in nodes[2].stderr().splitlines():
                if "drain" in line or "shut" in line or "left" in line or "received" in line:
                    print("  n2:", line[:300])
    finally:
        stop_all([n for n in nodes if n.alive()], etcd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--replication", type=int, default=2)
    parser.add_argument("--signals", default="TERM,KILL")
    parser.add_argument("--lease-ttl", type=int, default=2,
                        help="the nodes' --cluster-lease-ttl (seconds); catch-up passes run "
                             "every quarter of it")
    parser.add_argument("--log-level", default="warn",
                        help="the nodes'; with info, node 2's log of its drain is printed")
    args = parser.parse_args()
    print(f"{args.rows} rows x {args.dim} float32, 4 shards, R={args.replication}; command: "
          f".venv/bin/python bench/cluster/drain_bench.py --rows {args.rows} --dim {args.dim} "
          f"--replication {args.replication} --signals {args.signals} --lease-ttl {args.lease_ttl}",
          flush=True)
    for name in args.signals.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args, getattr(signal, f"SIG{name}"))


if __name__ == "__main__":
    main()
