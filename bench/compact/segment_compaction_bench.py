"""Compaction of one segment of ten against the compaction of one whole-dataset graph, on the
same data in the same run.

For each layout, a server started by this script takes --rows random float32 rows of --dim
dimensions (ids 0..rows-1, 10k-row puts) and indexes them all; then --deleted of the rows of
the fifth tenth of the ids (rows [0.4 rows, 0.5 rows)) are deleted and the `compact` action
times the compaction. Layouts:
  one segment   no --segment-max-bytes: one graph over every row, repaired as a whole;
  ten segments  --segment-max-bytes of a tenth of the vectors: only the segment holding the
                deleted rows loses rows, so only its graph is repaired; the others keep theirs.

    .venv/bin/python bench/compact/segment_compaction_bench.py [--rows 200000] [--dim 64]
        [--deleted 0.3] [--reps 2] [--bin build/release/arbalest]

Prints one JSON line per run and a summary with the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, make_table, put_table  # noqa: E402

COMMAND = "bench/compact/segment_compaction_bench.py"


def run(workdir: Path, args, segments: int, seed: int) -> dict:
    extra = ["--compact-deleted-fraction", "0", "--fsync", "none", "--snapshot-interval", "0",
             "--log-level", "warn"]
    if segments > 1:
        extra += ["--segment-max-bytes", str(args.rows // segments * args.dim * 4)]
    srv = ServerProcess(workdir, extra).start()
    try:
        name = "bench"
        table = make_table(args.rows, d=args.dim, extra=False, rng=np.random.default_rng(seed))
        put_table(srv.data, name, table, batch_size=10_000)
        ready = action(srv.data, "check_readiness", {"dataset": name, "wait": 600})[0]
        assert ready["status"] == "READY", ready
        stats = action(srv.data, "stats", {"dataset": name})[0]
        assert stats["segments"] == segments, stats
        tenth = args.rows // 10
        rng = np.random.default_rng(seed + 1)
        doomed = 4 * tenth + rng.choice(tenth, size=int(args.deleted * tenth), replace=False)
        deleted = action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0]
        assert deleted["deleted"] == len(doomed), deleted
        begin = time.perf_counter()
        result = action(srv.data, "compact", {"dataset": name})[0]
        seconds = time.perf_counter() - begin
        assert result["reclaimed_rows"] == len(doomed), result
        return {"segments": segments, "rows": args.rows, "dim": args.dim,
                "deleted": len(doomed), "compact_seconds": round(seconds, 3),
                "server_seconds": round(result["seconds"], 3)}
    finally:
        srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--deleted", type=float, default=0.3)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--bin", default=None)
    args = parser.parse_args()
    if args.bin:
        os.environ["ARBALEST_BIN"] = args.bin
    seconds: dict[int, list[float]] = {1: [], 10: []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for segments in (1, 10):  # alternated, so load drifts hit both alike
                line = run(Path(tmp) / f"run{rep}-{segments}", args, segments, seed=rep)
                print(json.dumps(line), flush=True)
                seconds[segments].append(line["server_seconds"])
    one, ten = statistics.median(seconds[1]), statistics.median(seconds[10])
    print(json.dumps({"median_seconds_one_segment": one, "median_seconds_ten_segments": ten,
                      "ratio": round(one / ten, 2) if ten else None}))
    print(f"reproduce: .venv/bin/python {COMMAND} --rows {args.rows} --dim {args.dim} "
          f"--deleted {args.deleted} --reps {args.reps}")


if __name__ == "__main__":
    main()
