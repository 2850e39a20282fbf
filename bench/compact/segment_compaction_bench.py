"""Compaction of one segment of ten against the compaction of one whole-dataset graph, on the
same data in the same run, for one or more server builds side by side.

For each layout, a server started by this script takes --rows random float32 rows of --dim
dimensions (ids 0..rows-1, 10k-row puts) and indexes them all; then --deleted of the rows of
the fifth tenth of the ids (rows [0.4 rows, 0.5 rows)) are deleted and the `compact` action
times the compaction. Layouts:
  one segment   no --segment-max-bytes: one graph over every row, repaired as a whole;
  ten segments  --segment-max-bytes of a tenth of the vectors: only the segment holding the
                deleted rows loses rows, so only its graph is repaired; the others keep theirs.
With --text every row also carries a `body` column of --words random words (from a vocabulary
of 5,000), full-text indexed, so the text index is part of what a compaction renumbers. With
--unique-ids the dataset's ids are unique keys (`longbow.unique_id`), so the id map is too.

With --scattered F, F of the rows of every other tenth are deleted too, before the fifth tenth's,
and the compaction is the background one (--compact-deleted-fraction between F and --deleted,
low enough that the last delete starts it), timed by its log line: with ten segments it rewrites
the fifth segment only and leaves the other deleted rows in place (the id map and the text index
must renumber past them); with one segment it compacts every deleted row.

    .venv/bin/python bench/compact/segment_compaction_bench.py [--rows 200000] [--dim 64]
        [--deleted 0.3] [--scattered 0.05] [--reps 2] [--text] [--unique-ids]
        [--bin build/release/arbalest | --bin before=<binary> --bin after=<binary>]

Builds and layouts alternate within each repetition, so load drifts hit them alike. Prints one
JSON line per run and, per build, the medians and the ratio one graph / ten segments; with two
builds, also the ratio of the ten-segment medians (first build / each later one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, make_table, put_table  # noqa: E402

COMMAND = "bench/compact/segment_compaction_bench.py"
COMPACTED = re.compile(r"compacted dataset 'bench': (\d+) deleted rows .* in ([0-9.]+) s")
VOCABULARY = 5_000


def text_column(rows: int, words: int, rng) -> pa.Array:
    vocabulary = np.array([f"w{i}" for i in range(VOCABULARY)])
    # Zipf-like: a few common words, a long tail, as natural text.
    picks = np.minimum(rng.zipf(1.3, size=(rows, words)) - 1, VOCABULARY - 1)
    return pa.array([" ".join(vocabulary[row]) for row in picks], type=pa.string())


def build_table(args, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    table = make_table(args.rows, d=args.dim, extra=False, rng=rng)
    if args.text:
        table = table.append_column("body", text_column(args.rows, args.words, rng))
    if args.unique_ids:
        table = table.replace_schema_metadata({"longbow.unique_id": "true"})
    return table


def compaction_threshold(args) -> float:
    """A --compact-deleted-fraction that the scattered deletes leave below (per segment and for
    the dataset) and that the fifth tenth's deletes pass (for it and for the dataset)."""
    before = args.scattered * 0.9
    after = before + args.deleted * 0.1
    assert args.scattered < args.deleted, "--scattered must be below --deleted"
    return (max(args.scattered, before) + min(args.deleted, after)) / 2


def await_compaction(srv, timeout: float = 600) -> tuple[int, float]:
    """The rows and seconds of the background compaction's log line, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (srv.stderr_path, srv.stdout_path):
            if path.exists():
                match = COMPACTED.search(path.read_text(errors="replace"))
                if match:
                    return int(match.group(1)), float(match.group(2))
        time.sleep(0.01)
    raise TimeoutError("no compaction logged")


def run(workdir: Path, binary: str, args, table: pa.Table, segments: int, seed: int) -> dict:
    os.environ["ARBALEST_BIN"] = binary
    background = args.scattered > 0
    extra = ["--fsync", "none", "--snapshot-interval", "0"]
    if background:
        extra += ["--compact-deleted-fraction", f"{compaction_threshold(args):.6f}",
                  "--compact-min-rows", "1", "--log-level", "info"]
    else:
        extra += ["--compact-deleted-fraction", "0", "--log-level", "warn"]
    if segments > 1:
        extra += ["--segment-max-bytes", str(args.rows // segments * args.dim * 4)]
    srv = ServerProcess(workdir, extra).start()
    try:
        name = "bench"
        put_table(srv.data, name, table, batch_size=10_000)
        ready = action(srv.data, "check_readiness", {"dataset": name, "wait": 600})[0]
        assert ready["status"] == "READY", ready
        stats = action(srv.data, "stats", {"dataset": name})[0]
        assert stats["segments"] == segments, stats
        tenth = args.rows // 10
        rng = np.random.default_rng(seed + 1)
        scattered = []
        if background:
            for t in range(10):
                if t != 4:
                    scattered.append(t * tenth + rng.choice(
                        tenth, size=int(args.scattered * tenth), replace=False))
            scattered = np.concatenate(scattered)
            deleted = action(srv.data, "delete", {"dataset": name, "ids": scattered.tolist()})[0]
            assert deleted["deleted"] == len(scattered), deleted
        doomed = 4 * tenth + rng.choice(tenth, size=int(args.deleted * tenth), replace=False)
        begin = time.perf_counter()
        deleted = action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0]
        assert deleted["deleted"] == len(doomed), deleted
        if background:
            reclaimed, server_seconds = await_compaction(srv)
            seconds = time.perf_counter() - begin
            expected = len(doomed) + (len(scattered) if segments == 1 else 0)
            assert reclaimed == expected, (reclaimed, expected)
        else:
            begin = time.perf_counter()
            result = action(srv.data, "compact", {"dataset": name})[0]
            seconds = time.perf_counter() - begin
            assert result["reclaimed_rows"] == len(doomed), result
            reclaimed, server_seconds = result["reclaimed_rows"], result["seconds"]
        return {"segments": segments, "rows": args.rows, "dim": args.dim,
                "deleted": len(doomed), "scattered": len(scattered), "reclaimed": reclaimed,
                "compact_seconds": round(seconds, 3), "server_seconds": round(server_seconds, 3)}
    finally:
        srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--deleted", type=float, default=0.3)
    parser.add_argument("--scattered", type=float, default=0.0,
                        help="fraction of every other tenth deleted too (background compaction)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--text", action="store_true")
    parser.add_argument("--words", type=int, default=12)
    parser.add_argument("--unique-ids", action="store_true")
    parser.add_argument("--bin", action="append", default=[],
                        help="a server binary, or label=binary; repeat to compare builds")
    parser.add_argument("--layouts", default="1,10", help="segment counts to run")
    args = parser.parse_args()
    binaries = {}
    for spec in args.bin or [os.environ.get("ARBALEST_BIN", "build/release/arbalest")]:
        label, _, path = spec.rpartition("=")
        binaries[label or path] = path
    layouts = [int(x) for x in args.layouts.split(",")]
    seconds = {label: {n: [] for n in layouts} for label in binaries}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            table = build_table(args, seed=rep)
            for label, binary in binaries.items():
                for segments in layouts:
                    line = run(Path(tmp) / f"run{rep}-{label}-{segments}".replace("/", "_"),
                               binary, args, table, segments, seed=rep)
                    line["build"] = label
                    print(json.dumps(line), flush=True)
                    seconds[label][segments].append(line["server_seconds"])
    medians = {label: {n: statistics.median(v) for n, v in by.items()}
               for label, by in seconds.items()}
    for label, by in medians.items():
        summary = {"build": label, **{f"median_seconds_{n}_segments": s for n, s in by.items()}}
        if 1 in by and 10 in by and by[10]:
            summary["ratio_one_over_ten"] = round(by[1] / by[10], 2)
        print(json.dumps(summary))
    labels = list(medians)
    for label in labels[1:]:
        for n in layouts:
            if medians[label][n]:
                print(json.dumps({"layout_segments": n, "speedup": f"{labels[0]} / {label}",
                                  "ratio": round(medians[labels[0]][n] / medians[label][n], 2)}))
    flags = " --text" * args.text + " --unique-ids" * args.unique_ids
    print(f"reproduce: .venv/bin/python {COMMAND} --rows {args.rows} --dim {args.dim} "
          f"--deleted {args.deleted} --scattered {args.scattered} --reps {args.reps}{flags} "
          f"--layouts {args.layouts} "
          + " ".join(f"--bin {label}=<binary>" for label in binaries))


if __name__ == "__main__":
    main()
