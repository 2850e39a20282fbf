"""The snapshot after deleting rows in one segment of ten: bytes it writes, for each build given,
in the same run (deleted rows per segment against one dataset-wide tombstones file).

For each binary (label=path, alternated per repetition so that load drifts hit them alike), a
server started by this script takes --rows random float32 rows of --dim dimensions (ids
0..rows-1, 10k-row puts) with --segment-max-bytes a tenth of the vectors (ten segments, merging
and compaction off), indexes them all, deletes --spread of the rows at random across the whole
dataset and takes a snapshot. Then --deleted of the rows of the fifth segment (ids [0.4 rows,
0.5 rows)) not deleted yet are deleted, and the snapshot action is timed while the server's
/proc/<pid>/io write_bytes is read before and after it. Also reported: the bytes of the
snapshot directory's files that are not hard links to the previous snapshot's (new files), and
of its deleted-rows files (tombstones.roaring, or the segments' seg-<id>-deleted-<n>.roaring).

    .venv/bin/python bench/snapshot/snapshot_after_deletes.py \\
        --binary before=<main build>/arbalest --binary after=build/release/arbalest \\
        [--rows 100000] [--dim 64] [--spread 0.3] [--deleted 0.01] [--reps 2] [--workdir DIR]

--workdir must be on a real disk (tmpfs counts no write_bytes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from arbalest_util import action  # noqa: E402
from snapshot_after_compaction import (compare_builds, snapshot_files,  # noqa: E402
                                       start_ten_segments, write_bytes)


def deleted_bytes(files: dict[str, tuple[int, int]]) -> int:
    return sum(size for name, (_, size) in files.items()
               if name == "tombstones.roaring" or "-deleted-" in name)


def run(workdir: Path, binary: str, args, seed: int) -> dict:
    name = "bench"
    srv = start_ten_segments(workdir, binary, args, seed, name)
    try:
        rng = np.random.default_rng(seed + 1)
        spread = rng.choice(args.rows, size=int(args.spread * args.rows), replace=False)
        for chunk in np.array_split(spread, max(1, len(spread) // 10_000)):
            action(srv.data, "delete", {"dataset": name, "ids": chunk.tolist()})
        action(srv.data, "snapshot", {"dataset": name})
        before = snapshot_files(srv, name)
        tenth = args.rows // 10
        candidates = np.setdiff1d(np.arange(4 * tenth, 5 * tenth), spread)
        doomed = rng.choice(candidates, size=int(args.deleted * tenth), replace=False)
        assert action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0][
            "deleted"] == len(doomed)
        written_before = write_bytes(srv.proc.pid)
        begin = time.perf_counter()
        action(srv.data, "snapshot", {"dataset": name})
        seconds = time.perf_counter() - begin
        written = write_bytes(srv.proc.pid) - written_before
        after = snapshot_files(srv, name)
        old = {inode for inode, _ in before.values()}
        new_files = sum(size for inode, size in after.values() if inode not in old)
        return {"rows": args.rows, "dim": args.dim, "spread_deleted": len(spread),
                "deleted_in_segment": len(doomed), "snapshot_write_bytes": written,
                "snapshot_new_file_bytes": new_files, "deleted_rows_file_bytes":
                deleted_bytes(after), "snapshot_seconds": round(seconds, 3)}
    finally:
        srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True, help="label=path")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--spread", type=float, default=0.3)
    parser.add_argument("--deleted", type=float, default=0.01)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    results = compare_builds(args, run, "arbalest_snap_deletes_")
    for label, lines in results.items():
        print(json.dumps({
            "build": label,
            "median_snapshot_write_bytes": statistics.median(
                x["snapshot_write_bytes"] for x in lines),
            "median_snapshot_new_file_bytes": statistics.median(
                x["snapshot_new_file_bytes"] for x in lines),
            "deleted_rows_file_bytes": lines[-1]["deleted_rows_file_bytes"],
            "median_snapshot_seconds": statistics.median(x["snapshot_seconds"] for x in lines)}))


if __name__ == "__main__":
    main()
