"""How long a node that comes back on its data dir takes until it serves its shard again, and
how many rows (and bytes) its catch-up moves, for one or more builds side by side: a build that
drops its stale copy and copies the shard afresh, and one that keeps the copy and reconciles it
by content digests.

An etcd and two nodes (--cluster-lease-ttl 2, one shard, R=2, W=1 so that puts go on with one
replica, --segment-max-bytes of --segment-rows rows); --rows random float32 rows of --dim
dimensions put through node 0 in batches of 5000; both nodes wait until READY. With
--snapshot, the replica that is not the primary takes a snapshot (its graphs saved, as
--snapshot-interval does on a node up for a while; without one, its restart re-indexes the rows
its WAL holds). It is SIGKILLed; once the map no longer names it, --changed of the rows change
through the primary, a third each: deleted; deleted and put again with the same id and another
vector; new. The primary waits until READY. Then the killed node starts again on its data dir.
Reported: the seconds from its start until the map names it a full replica again (`to full
replica`) and until its copy is READY too (every row linked: check_readiness, local_only), the
CPU seconds (user + system, /proc) it used until then, what its catch-up reports (rows copied by
rows, rows adopted with segments, rows removed, the kept copy's buckets), and the bytes those
rows hold (their Arrow size: ids and vectors), the seconds the kept copy's plan took (its first
content tables: `plan_s`) and the two digest tables of the reconcile before the fences and of
the fenced one (the primary's, this node's). Afterwards the two copies are compared: equal
means the same ids with the same vectors. Every process shares this machine's cores. Each binary
runs --rounds times, alternating.

    .venv/bin/python bench/cluster/returning_node_bench.py --bins OLD,NEW [--rows 100000] \\
        [--dim 128] [--changed 0.01] [--segment-rows 20000] [--rounds 1] [--snapshot]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess, action, make_table, put_table, scan  # noqa: E402
from catchup_bench import parse_rows, status  # noqa: E402
from cluster_search_bench import stop_all  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402
from segment_adopt_bench import (bins_parser, caught_up, cpu_seconds, ready,  # noqa: E402
                                 run_rounds, start_pair)

DATASET = "adopt"  # segment_adopt_bench's `ready` asks for its shard
SHARD = f"{DATASET}.__shard0"


def placement(node) -> dict:
    return {m["dataset"]: m for m in status(node)["shard_maps"]}[DATASET]["placement"][0]


def local_rows(node) -> pa.Table:
    return scan(node.data, {"dataset": SHARD, "local_only": True}).sort_by("id")


def one_run(binary: str, table, dim: int, segment_rows: int, changed: float,
            snapshot: bool) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp)).start()
        nodes = [ServerProcess(Path(tmp) / f"node{i}", extra_args=[
            "--log-level", "warn", "--cluster-etcd", etcd.url, "--cluster-name", "bench",
            "--node-id", f"n{i}", "--cluster-lease-ttl", "2", "--cluster-shards", "1",
            "--cluster-replication", "2", "--cluster-write-quorum", "1", "--segment-max-bytes",
            str(segment_rows * dim * 4)]) for i in (0, 1)]
        try:
            primary, victim = start_pair(nodes, table)
            if snapshot:  # as --snapshot-interval would have done on a node up for a while
                action(nodes[victim].data, "snapshot", {})
            nodes[victim].proc.kill()
            while f"n{victim}" in placement(nodes[primary])["replicas"]:
                time.sleep(0.05)

            # While it is away: a third of the changed rows deleted, a third put again with
            # other vectors, a third new.
            rows = table.num_rows
            each = max(1, int(rows * changed / 3))
            rng = np.random.default_rng(17)
            picked = [int(i) for i in rng.choice(rows, size=2 * each, replace=False)]
            gone, again_ids = picked[:each], picked[each:]
            for at in range(0, len(picked), 5000):
                action(nodes[primary].data, "delete",
                       {"dataset": DATASET, "ids": picked[at:at + 5000]})
            again = make_table(each, d=dim, extra=False, rng=np.random.default_rng(18))
            again = again.set_column(0, "id", pa.array(again_ids, type=pa.int64()))
            put_table(nodes[primary].data, DATASET, again, batch_size=5000)
            new = make_table(each, d=dim, extra=False, start_id=rows,
                             rng=np.random.default_rng(19))
            put_table(nodes[primary].data, DATASET, new, batch_size=5000)
            while not ready(nodes[primary], wait=60):
                pass

            returning = nodes[victim]
            started = time.monotonic()
            returning.start()
            cpu_before = cpu_seconds(returning.proc.pid)
            while True:
                try:
                    where = placement(nodes[primary])
                except KeyError:
                    where = {"replicas": [], "syncing": []}
                if f"n{victim}" in where["replicas"] and not where["syncing"]:
                    break
                time.sleep(0.02)
            full_s = time.monotonic() - started
            while not ready(returning):
                time.sleep(0.05)
            ready_s = time.monotonic() - started
            cpu = cpu_seconds(returning.proc.pid) - cpu_before
            state = caught_up(returning)  # recorded just after the flip
            moved = state["rows_copied"] + (state.get("rows_adopted") or 0)
            bytes_per_row = table.nbytes / rows
            mine, theirs = local_rows(returning), local_rows(nodes[primary])
            kept = state.get("kept_copy") or {}
            return {"to_full_replica_s": round(full_s, 2), "to_ready_s": round(ready_s, 2),
                    "returning_cpu_s": round(cpu, 2), "catchup_ms": state["ms"],
                    "rows_copied": state["rows_copied"],
                    "rows_adopted": state.get("rows_adopted"),
                    "rows_removed": state["rows_removed"],
                    "mb_moved": round(moved * bytes_per_row / 1e6, 2),
                    "kept": kept.get("kept"), "buckets_differ": kept.get("buckets_differ"),
                    "plan_s": kept.get("seconds"),
                    "before_tables_s": [round(state["reconcile_before_fences"].get(k, 0), 3)
                                        for k in ("source_table_seconds", "own_table_seconds")],
                    "tables_s": [round(state["reconcile_fenced"].get(k, 0), 3)
                                 for k in ("source_table_seconds", "own_table_seconds")],
                    "fenced_ms": round(state["fenced_seconds"] * 1000),
                    "copies_equal": mine.equals(theirs), "rows_now": theirs.num_rows}
        finally:
            stop_all([n for n in nodes if n.proc.poll() is None], etcd)


def main() -> None:
    parser = bins_parser(__doc__)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--snapshot", action="store_true",
                        help="snapshot the node before it is killed (its graphs saved)")
    args, table = parse_rows(parser)
    print(f"{args.rows} rows x {args.dim} float32, {args.changed:.1%} changed, segments of "
          f"{args.segment_rows} rows, 1 shard, R=2, W=1, "
          f"{'a snapshot' if args.snapshot else 'no snapshot'} before the kill", flush=True)
    run_rounds(args.bins, args.rounds, lambda binary: one_run(
        binary, table, args.dim, args.segment_rows, args.changed, args.snapshot))


if __name__ == "__main__":
    main()
