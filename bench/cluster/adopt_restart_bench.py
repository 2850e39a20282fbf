"""How long a new replica SIGKILLed right after its catch-up takes, once started again on its
data dir, until its copy is READY, and how many rows it indexes again, for one or more builds
side by side: a build whose catch-up snapshots the copy it adopted segments into (the graphs
come back from segment files), and one that leaves them to the next snapshot round (the
restart replays the log and indexes every row again).

An etcd and two nodes (--cluster-lease-ttl 2, one shard, R=2, --segment-max-bytes of
--segment-rows rows, --segment-merge=false); --rows random float32 rows of --dim dimensions put
through node 0 in batches of 5000; both wait until READY. A third node joins with a lease TTL of
60 s (so that it stays the shard's replica while it restarts); the replica that is not the
primary is SIGKILLed, and the third node catches the shard up, adopting the sealed segments.
As soon as its cluster-status reports the catch-up caught_up it is SIGKILLed, then started again
on its data dir and ports. Reported: the catch-up (ms, rows adopted, its snapshot's seconds
when it took one), the seconds from the restart until the server answers and until its copy is
READY (check_readiness, local_only: every row linked), the CPU seconds (user + system, /proc) it
used until READY, and its `stats`: rows, rows whose graphs the snapshot restored
(index_restored_rows) and so rows indexed again (rows + deleted - restored). Every process
shares this machine's cores. Each binary runs --rounds times, alternating.

    .venv/bin/python bench/cluster/adopt_restart_bench.py --bins OLD,NEW [--rows 100000] \\
        [--dim 128] [--segment-rows 20000] [--rounds 1]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
import arbalest_util  # noqa: E402
from arbalest_util import ServerProcess, action, put_table  # noqa: E402
from catchup_bench import wait_members  # noqa: E402
from cluster_search_bench import stop_all  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402
from segment_adopt_bench import (SHARD, caught_up, cpu_seconds, node_args,  # noqa: E402
                                 placement, ready, run_segment_rounds)


def one_run(binary: str, table, dim: int, segment_rows: int) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp)).start()
        nodes = []

        def start(i, lease_ttl_s=2):
            nodes.append(ServerProcess(Path(tmp) / f"node{i}", extra_args=node_args(
                etcd.url, i, dim, segment_rows, lease_ttl_s)).start())

        try:
            for i in (0, 1):
                start(i)
            for n in nodes:
                wait_members(n, 2)
            put_table(nodes[0].data, "adopt", table, batch_size=5000)
            for n in nodes:
                while not ready(n, wait=60):
                    pass
            start(2, lease_ttl_s=60)
            for n in nodes:
                wait_members(n, 3)
            primary = int(placement(nodes[0])["primary"][1:])
            victim = next(i for i in (0, 1) if i != primary)
            newcomer = nodes[2]
            nodes[victim].proc.kill()
            state = caught_up(newcomer)

            newcomer.proc.kill()
            newcomer.proc.wait()
            ports = [newcomer.port, newcomer.meta_port, newcomer.metrics_port]
            saved_free_ports = arbalest_util.free_ports
            arbalest_util.free_ports = lambda n: list(ports)
            started = time.monotonic()
            try:
                newcomer.start(attempts=1)
            finally:
                arbalest_util.free_ports = saved_free_ports
            cpu_before = cpu_seconds(newcomer.proc.pid)
            serving_s = time.monotonic() - started
            while not ready(newcomer):
                time.sleep(0.05)
            ready_s = time.monotonic() - started
            cpu = cpu_seconds(newcomer.proc.pid) - cpu_before
            stats = action(newcomer.data, "stats", {"dataset": SHARD, "local_only": True})[0]
            stored = stats["rows"] + stats["deleted_rows"]
            snapshot = state.get("snapshot") or {}
            return {"catchup_ms": state["ms"], "rows_adopted": state.get("rows_adopted"),
                    "catchup_snapshot_s": snapshot.get("seconds"),
                    "restart_to_serving_s": round(serving_s, 2),
                    "restart_to_ready_s": round(ready_s, 2),
                    "restart_cpu_s": round(cpu, 2), "rows": stats["rows"],
                    "rows_restored": stats["index_restored_rows"],
                    "rows_indexed_again": stored - stats["index_restored_rows"]}
        finally:
            stop_all([n for n in nodes if n.proc.poll() is None], etcd)


def main() -> None:
    run_segment_rounds(__doc__, one_run, "; the new replica SIGKILLed right after its catch-up")


if __name__ == "__main__":
    main()
