"""How long a shard's puts stall while a replica catches the shard up, for one or more builds
side by side.

Three nodes (--cluster-lease-ttl 2, one shard, R=2, W=2); --rows random float32 rows of --dim
dimensions put through node 0 in batches of 5000; then a client puts 20 new rows every 20 ms
through node 0 (one call at a time, timed) while node 2 is SIGKILLed: the shard gets a syncing
replica that copies it. Reported, over the puts that started while the shard had a syncing
replica: how many, how many failed, and the longest and p99 put call; and the catch-up's
duration from cluster-status (and, where the build reports them, its bulk and fenced passes, the
ids its fenced comparison read and its digest tables).
Every process shares this machine's cores. Each binary runs --rounds times, alternating.

    .venv/bin/python bench/cluster/catchup_stall_bench.py --bins OLD,NEW [--rows 100000] \\
        [--dim 128] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import make_table, put_table  # noqa: E402
from catchup_bench import parse_rows, start_cluster, status  # noqa: E402
from cluster_search_bench import stop_all  # noqa: E402

DATASET = "stall"


def placement(node) -> dict:
    return {m["dataset"]: m for m in status(node)["shard_maps"]}[DATASET]["placement"][0]


class Putter(threading.Thread):
    def __init__(self, node, dim):
        super().__init__(daemon=True)
        self.node, self.dim = node, dim
        self.calls: list[tuple[float, float, bool]] = []  # (start, seconds, acked)
        self.stop_event = threading.Event()

    def run(self):
        rng = np.random.default_rng(9)
        next_id = 10_000_000
        while not self.stop_event.is_set():
            table = make_table(20, d=self.dim, start_id=next_id, extra=False, rng=rng)
            next_id += 20
            begin = time.monotonic()
            try:
                put_table(self.node.data, DATASET, table)
                ok = True
            except (flight.FlightError, pa.ArrowException):
                ok = False
            self.calls.append((begin, time.monotonic() - begin, ok))
            self.stop_event.wait(0.02)


def one_run(binary: str, table, dim: int) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory() as tmp:
        etcd, nodes, _ = start_cluster(Path(tmp), shards=1)
        try:
            put_table(nodes[0].data, DATASET, table, batch_size=5000)
            # Kill a replica that is not node 0 (the client's node); the third node syncs.
            victim = next(i for i in (1, 2) if f"n{i}" in placement(nodes[0])["replicas"])
            putter = Putter(nodes[0], dim)
            putter.start()
            time.sleep(1)
            nodes[victim].proc.kill()
            while not placement(nodes[0])["syncing"]:
                time.sleep(0.02)
            start = time.monotonic()
            while placement(nodes[0])["syncing"]:
                time.sleep(0.02)
            end = time.monotonic()
            putter.stop_event.set()
            putter.join(60)
            during = [(s, ok) for b, s, ok in putter.calls if start <= b <= end]
            waits = sorted(s for s, _ in during)
            state = next(s for n in nodes if n is not nodes[victim]
                         for s in status(n)["catchup"]["shards"] if s["state"] == "caught_up")
            return {"puts": len(during), "failed": sum(not ok for _, ok in during),
                    "longest_s": waits[-1] if waits else None,
                    "p99_s": waits[int(0.99 * (len(waits) - 1))] if waits else None,
                    "catchup_ms": state["ms"], "bulk_seconds": state.get("bulk_seconds"),
                    "fenced_seconds": state.get("fenced_seconds"),
                    "reconcile_seconds": state.get("reconcile_seconds"),
                    "rows_copied": state["rows_copied"],
                    # The fenced comparison: ids compared id by id (main: every id of the
                    # shard) and, where the build reports them, the ids read and the digests.
                    "ids_compared": state.get("ids_compared"),
                    "ids_read_fenced": state.get("ids_read_fenced"),
                    "reconcile_fenced": state.get("reconcile_fenced"),
                    "reconcile_before_fences": state.get("reconcile_before_fences")}
        finally:
            stop_all([n for i, n in enumerate(nodes) if n.proc.poll() is None], etcd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bins", required=True, help="comma-separated arbalest binaries")
    parser.add_argument("--rounds", type=int, default=2)
    args, table = parse_rows(parser)
    print(f"{args.rows} rows x {args.dim} float32, 1 shard, R=2, W=2; puts of 20 rows every "
          f"20 ms through node 0", flush=True)
    for round_ in range(args.rounds):
        for label, binary in enumerate(args.bins.split(",")):
            result = one_run(binary, table, args.dim)
            print(f"round {round_} bin {label}: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
