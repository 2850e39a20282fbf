"""How long a new replica takes from the start of its catch-up until it is READY (every row of
the shard linked into its graphs), and the CPU seconds it spends, for one or more builds side
by side: a build whose catch-up adopts the primary's sealed segments with their graphs, and one
that re-indexes every copied row.

An etcd and two nodes (--cluster-lease-ttl 2, one shard, R=2, --segment-max-bytes of
--segment-rows rows, --segment-merge=false); --rows random float32 rows of --dim dimensions put
through node 0 in batches of 5000; both nodes wait until READY. A third node joins; the replica
that is not the shard's primary is SIGKILLed, and the third node catches the shard up from the
primary. Reported: the seconds from when the shard map first shows it syncing until its copy is
READY (its own check_readiness, local_only), the catch-up's duration from cluster-status, the
CPU seconds (user + system, /proc) the new node used from the SIGKILL until READY, and what the
catch-up reports it adopted. The bulk pass's row scan: its seconds, rows and bytes received
(Arrow buffer bytes) as cluster-status reports them (a build that reads only the rows after the
adopted segments reports them; an older one reads the whole shard, whose rows and bytes the
bench measures by the same local_only scan of the primary's copy once the replica is READY:
`full_scan_rows`, `full_scan_bytes`), and the bulk pass's seconds (adoption and row scan).
`shmem_rise_mib`: the machine's shared memory (/proc/meminfo Shmem, where memory files live)
at its highest from the SIGKILL until READY, above what it was at the SIGKILL: the graphs the
new node receives into memory files (its index memory from then on) and, for a build whose
primary writes each graph file into a memory file to send it, that file too.
Every process shares this machine's cores. Each binary runs --rounds times, alternating.

    .venv/bin/python bench/cluster/segment_adopt_bench.py --bins OLD,NEW [--rows 100000] \\
        [--dim 128] [--segment-rows 20000] [--rounds 1]
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, scan  # noqa: E402
from catchup_bench import parse_rows, status, wait_members  # noqa: E402
from cluster_search_bench import stop_all  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

DATASET = "adopt"
SHARD = f"{DATASET}.__shard0"


def placement(node) -> dict:
    return {m["dataset"]: m for m in status(node)["shard_maps"]}[DATASET]["placement"][0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shmem_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no Shmem in /proc/meminfo")


class PeakSampler(threading.Thread):
    """The highest value `probe()` returns, sampled every 5 ms until stop()."""

    def __init__(self, probe):
        super().__init__(daemon=True)
        self.probe, self.peak, self.done = probe, probe(), threading.Event()

    def run(self):
        while not self.done.wait(0.005):
            self.peak = max(self.peak, self.probe())

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def ready(node, wait=None) -> bool:
    body = {"dataset": SHARD, "local_only": True}
    if wait:
        body["wait"] = wait
    try:
        return action(node.data, "check_readiness", body)[0]["status"] == "READY"
    except Exception:  # noqa: BLE001 - not created yet
        return False


def node_args(etcd_url: str, i: int, dim: int, segment_rows: int, lease_ttl_s: int = 2,
              merge: bool = False) -> list:
    """Node `i`'s flags: one shard, R=2, segments of `segment_rows` rows, never merged (with
    `merge`: merged, and compacted only when asked)."""
    return ["--log-level", "warn", "--cluster-etcd", etcd_url, "--cluster-name", "bench",
            "--node-id", f"n{i}", "--cluster-lease-ttl", str(lease_ttl_s), "--cluster-shards",
            "1", "--cluster-replication", "2", "--segment-max-bytes",
            str(segment_rows * dim * 4),
            *(["--segment-merge=true", "--compact-deleted-fraction", "0"] if merge else
              ["--segment-merge=false"])]


def one_run(binary: str, table, dim: int, segment_rows: int) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp)).start()
        nodes = []

        def start(i):
            nodes.append(ServerProcess(Path(tmp) / f"node{i}", extra_args=node_args(
                etcd.url, i, dim, segment_rows)).start())

        try:
            for i in (0, 1):
                start(i)
            for n in nodes:
                wait_members(n, 2)
            put_table(nodes[0].data, DATASET, table, batch_size=5000)
            built = time.monotonic()
            for n in nodes:
                while not ready(n, wait=60):
                    pass
            build_s = time.monotonic() - built
            start(2)
            for n in nodes:
                wait_members(n, 3)
            where = placement(nodes[0])
            primary = int(where["primary"][1:])
            victim = next(i for i in (0, 1) if i != primary)
            newcomer = nodes[2]
            cpu_before = cpu_seconds(newcomer.proc.pid)
            nodes[victim].proc.kill()
            shmem_before = shmem_bytes()
            shmem = PeakSampler(shmem_bytes)
            shmem.start()
            while "n2" not in placement(nodes[primary])["syncing"]:
                time.sleep(0.01)
            start_s = time.monotonic()
            while placement(nodes[primary])["syncing"] or not ready(newcomer):
                time.sleep(0.05)
            ready_s = time.monotonic() - start_s
            shmem_rise = shmem.stop() - shmem_before
            cpu = cpu_seconds(newcomer.proc.pid) - cpu_before
            state = next(s for s in status(newcomer)["catchup"]["shards"]
                         if s["state"] == "caught_up")
            full = scan(nodes[primary].data, {"dataset": SHARD, "local_only": True})
            return {"primary_build_s": round(build_s, 1), "syncing_to_ready_s": round(ready_s, 2),
                    "replica_cpu_s": round(cpu, 2), "catchup_ms": state["ms"],
                    "shmem_rise_mib": round(shmem_rise / 2**20, 1),
                    "rows_copied": state["rows_copied"],
                    "rows_adopted": state.get("rows_adopted"),
                    "segments_adopted": state.get("segments_adopted"),
                    "adopt_seconds": (state.get("adopted") or {}).get("seconds"),
                    "bulk_seconds": round(state["bulk_seconds"], 3),
                    "scan_seconds": (state.get("scan") or {}).get("seconds"),
                    "rows_scanned": state.get("rows_scanned"),
                    "bytes_scanned": state.get("bytes_scanned"),
                    "scan_from_row": (state.get("scan") or {}).get("from_row"),
                    "full_scan_rows": full.num_rows,
                    "full_scan_bytes": full.get_total_buffer_size()}
        finally:
            stop_all([n for n in nodes if n.proc.poll() is None], etcd)


def bins_parser(doc: str) -> argparse.ArgumentParser:
    """--bins, --rounds and --segment-rows (parse_rows adds --rows and --dim)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--bins", required=True, help="comma-separated arbalest binaries")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--segment-rows", type=int, default=20_000)
    return parser


def run_rounds(bins: str, rounds: int, run) -> None:
    """`run(binary)` `rounds` times for each of the comma-separated `bins`, alternating."""
    for round_ in range(rounds):
        for label, binary in enumerate(bins.split(",")):
            print(f"round {round_} bin {label}: {json.dumps(run(binary))}", flush=True)


def start_pair(nodes, table) -> tuple[int, int]:
    """Starts the two `nodes`, puts `table` through the first and waits until both are READY:
    the primary's index in `nodes` and the other's."""
    for n in nodes:
        n.start()
    for n in nodes:
        wait_members(n, 2)
    put_table(nodes[0].data, DATASET, table, batch_size=5000)
    for n in nodes:
        while not ready(n, wait=60):
            pass
    primary = int(placement(nodes[0])["primary"][1:])
    return primary, 1 - primary


def caught_up(node) -> dict:
    """The state of `node`'s first catch-up that caught up, once it reports one."""
    while True:
        done = [s for s in status(node)["catchup"]["shards"] if s["state"] == "caught_up"]
        if done:
            return done[0]
        time.sleep(0.02)


def run_segment_rounds(doc: str, one_run, note: str = "") -> None:
    """Parses --bins, --rounds, --segment-rows, --rows and --dim (doc: the bench's docstring)
    and runs `one_run(binary, table, dim, segment_rows)` for each binary and round."""
    args, table = parse_rows(bins_parser(doc))
    print(f"{args.rows} rows x {args.dim} float32, segments of {args.segment_rows} rows, "
          f"1 shard, R=2{note}", flush=True)
    run_rounds(args.bins, args.rounds,
               lambda binary: one_run(binary, table, args.dim, args.segment_rows))


def main() -> None:
    run_segment_rounds(__doc__, one_run)


if __name__ == "__main__":
    main()
