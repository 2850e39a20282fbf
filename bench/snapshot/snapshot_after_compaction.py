"""The first snapshot after compacting one segment of ten: bytes it writes and its duration,
for each build given, in the same run.

For each binary (label=path, alternated per repetition so that load drifts hit them alike), a
server started by this script takes --rows random float32 rows of --dim dimensions (ids
0..rows-1, 10k-row puts) with --segment-max-bytes a tenth of the vectors (ten segments, merging
off), indexes them all and takes a snapshot. Then --deleted of the rows of the fifth segment
(ids [0.4 rows, 0.5 rows)) are deleted, the `compact` action compacts that segment, and the
snapshot action is timed while the server's /proc/<pid>/io write_bytes (what it caused to be
written to the disk) is read before and after it. Also reported: the bytes of the snapshot
directory's files that are not hard links to the previous snapshot's (new files).

    .venv/bin/python bench/snapshot/snapshot_after_compaction.py \\
        --binary before=<main build>/arbalest --binary after=build/release/arbalest \\
        [--rows 200000] [--dim 128] [--deleted 0.3] [--reps 2] [--workdir DIR]

--workdir must be on a real disk (tmpfs counts no write_bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, make_table, put_table  # noqa: E402


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def snapshot_files(srv: ServerProcess, name: str) -> dict[str, tuple[int, int]]:
    [found] = [p for p in (srv.data_dir / "snapshots").iterdir()
               if p.name.startswith(f"{name}@") and not p.name.endswith((".tmp", ".trash"))]
    return {p.name: (p.stat().st_ino, p.stat().st_size) for p in found.iterdir()}


def start_ten_segments(workdir: Path, binary: str, args, seed: int, name: str) -> ServerProcess:
    """A server of `binary` holding --rows random rows of --dim in dataset `name`, indexed, in
    ten segments (merging, compaction and automatic snapshots off)."""
    os.environ["ARBALEST_BIN"] = binary
    extra = ["--compact-deleted-fraction", "0", "--snapshot-interval", "0",
             "--snapshot-wal-bytes", "0", "--segment-merge", "false", "--log-level", "warn",
             "--segment-max-bytes", str(args.rows // 10 * args.dim * 4)]
    srv = ServerProcess(workdir, extra).start()
    try:
        table = make_table(args.rows, d=args.dim, extra=False, rng=np.random.default_rng(seed))
        put_table(srv.data, name, table, batch_size=10_000)
        while action(srv.data, "check_readiness", {"dataset": name, "wait": 600})[0][
                "status"] != "READY":
            pass
        assert action(srv.data, "stats", {"dataset": name})[0]["segments"] == 10
    except BaseException:
        srv.stop()
        raise
    return srv


def run(workdir: Path, binary: str, args, seed: int) -> dict:
    name = "bench"
    srv = start_ten_segments(workdir, binary, args, seed, name)
    try:
        action(srv.data, "snapshot", {"dataset": name})
        before = snapshot_files(srv, name)
        tenth = args.rows // 10
        rng = np.random.default_rng(seed + 1)
        doomed = 4 * tenth + rng.choice(tenth, size=int(args.deleted * tenth), replace=False)
        assert action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0][
            "deleted"] == len(doomed)
        compacted = action(srv.data, "compact", {"dataset": name})[0]
        assert compacted["reclaimed_rows"] == len(doomed), compacted
        written_before = write_bytes(srv.proc.pid)
        begin = time.perf_counter()
        [report] = action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"]
        seconds = time.perf_counter() - begin
        written = write_bytes(srv.proc.pid) - written_before
        after = snapshot_files(srv, name)
        old = {inode for inode, _ in before.values()}
        new_files = sum(size for inode, size in after.values() if inode not in old)
        return {"rows": args.rows, "dim": args.dim, "deleted": len(doomed),
                "snapshot_write_bytes": written, "snapshot_new_file_bytes": new_files,
                "snapshot_bytes": report["bytes"], "snapshot_seconds": round(seconds, 3),
                "server_seconds": round(report["seconds"], 3)}
    finally:
        srv.stop()


def compare_builds(args, run_one, prefix: str) -> dict[str, list[dict]]:
    """Prints the date, load and command, then runs `run_one(workdir, binary, args, seed)` for
    each --binary label=path, alternated per repetition; prints and returns each run's line,
    by label."""
    print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("# command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix=prefix, dir=args.workdir) as tmp:
        for rep in range(args.reps):
            for spec in args.binary:
                label, binary = spec.split("=", 1)
                line = run_one(Path(tmp) / f"{label}-{rep}", binary, args, seed=rep)
                line["build"] = label
                print(json.dumps(line), flush=True)
                results.setdefault(label, []).append(line)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="label=path")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--deleted", type=float, default=0.3)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    results = compare_builds(args, run, "arbalest_snap_compact_")
    for label, lines in results.items():
        print(json.dumps({
            "build": label,
            "median_snapshot_write_bytes": statistics.median(
                x["snapshot_write_bytes"] for x in lines),
            "median_snapshot_new_file_bytes": statistics.median(
                x["snapshot_new_file_bytes"] for x in lines),
            "median_snapshot_seconds": statistics.median(x["snapshot_seconds"] for x in lines),
            "snapshot_bytes": lines[-1]["snapshot_bytes"]}))


if __name__ == "__main__":
    main()
