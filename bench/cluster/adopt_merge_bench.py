"""What a new replica's row scan reads when the primary merges the last segments it adopted
before the scan, for one or more builds side by side: a build that then scans the whole shard,
and one that scans after the latest adopted segment the primary still holds as it was.

An etcd and two nodes (--cluster-lease-ttl 2, one shard, R=2, --segment-max-bytes of
--segment-rows rows, merges on, compactions only when asked); --rows random float32 rows of
--dim dimensions put through node 0 in batches of 5000; both wait until READY. A third node
joins, pausing 30 s between its segments' adoption and its row scan (the test-only
ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS); the replica that is not the primary is SIGKILLed, and
the third node adopts the primary's sealed segments. Meanwhile three quarters of the rows of the
last two adopted segments are deleted (through the primary, so on both copies) and 20 rows are
put (an indexing turn, which asks for merges): the primary merges those two segments. Reported:
the segments adopted, where the row scan started (`scan_from_row`), the rows and Arrow bytes it
read, its seconds, why it did not start after the last adopted segment, and the catch-up's
duration. Every process shares this machine's cores. Each binary runs --rounds times,
alternating.

    .venv/bin/python bench/cluster/adopt_merge_bench.py --bins OLD,NEW [--rows 100000] \\
        [--dim 128] [--segment-rows 20000] [--rounds 1]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess, action, make_table, put_table  # noqa: E402
from catchup_bench import wait_members  # noqa: E402
from cluster_search_bench import stop_all  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402
from segment_adopt_bench import (DATASET, SHARD, caught_up, node_args,  # noqa: E402
                                 run_segment_rounds, start_pair)

SCAN_DELAY_MS = 30_000


def segments(node) -> list:
    return action(node.data, "shard-segments", {"dataset": SHARD})[0]["segments"]


def one_run(binary: str, table, dim: int, segment_rows: int) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp)).start()
        nodes = [ServerProcess(Path(tmp) / f"node{i}", extra_args=node_args(
            etcd.url, i, dim, segment_rows, merge=True)) for i in (0, 1)]
        try:
            primary, victim = start_pair(nodes, table)
            listed = segments(nodes[primary])
            prev, last = listed[-2], listed[-1]
            nodes.append(ServerProcess(
                Path(tmp) / "node2", extra_args=node_args(etcd.url, 2, dim, segment_rows),
                env={"ARBALEST_TEST_CATCHUP_SCAN_DELAY_MS": str(SCAN_DELAY_MS)}).start())
            for n in nodes:
                wait_members(n, 3)
            newcomer = nodes[2]
            nodes[victim].proc.kill()
            adopted_end = last["first_row"] + last["rows"]
            while True:  # the segments adopted: the row scan waits
                try:
                    rows = action(newcomer.data, "stats",
                                  {"dataset": SHARD, "local_only": True})[0]["rows"]
                except Exception:  # noqa: BLE001 - not created yet
                    rows = 0
                if rows >= adopted_end:
                    break
                time.sleep(0.05)
            gone = [i for seg in (prev, last)
                    for i in range(seg["first_row"], seg["first_row"] + seg["rows"] * 3 // 4)]
            for at in range(0, len(gone), 5000):
                action(nodes[primary].data, "delete", {"dataset": DATASET,
                                                       "ids": gone[at:at + 5000]})
            put_table(nodes[primary].data, DATASET,
                      make_table(20, d=dim, extra=False, start_id=table.num_rows,
                                 rng=np.random.default_rng(3)))
            merged = (prev["first_row"], prev["rows"] + last["rows"])
            merged_in_s = None
            started = time.monotonic()
            while time.monotonic() - started < SCAN_DELAY_MS / 1000:
                if merged in {(s["first_row"], s["rows"]) for s in segments(nodes[primary])}:
                    merged_in_s = round(time.monotonic() - started, 2)
                    break
                time.sleep(0.05)
            state = caught_up(newcomer)
            scan = state.get("scan") or {}
            return {"segments_adopted": state.get("segments_adopted"),
                    "rows_adopted": state.get("rows_adopted"),
                    "merged_after_s": merged_in_s, "scan_from_row": scan.get("from_row"),
                    "rows_scanned": state.get("rows_scanned"),
                    "mb_scanned": round((state.get("bytes_scanned") or 0) / 1e6, 2),
                    "scan_s": round(scan.get("seconds") or 0, 3),
                    "fallback": (scan.get("fallback") or "")[:60], "catchup_ms": state["ms"]}
        finally:
            stop_all([n for n in nodes if n.proc.poll() is None], etcd)


def main() -> None:
    run_segment_rounds(__doc__, one_run, "; the primary merges the last two adopted segments")


if __name__ == "__main__":
    main()
