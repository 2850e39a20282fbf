"""Id lookups of a dataset with unique ids through the server, for two builds side by side:
delete by id (one request of --ids ids, spread over the dataset) and VectorSearchByID (one id
per request), at --rows rows. A build that answers through the id map looks each id up in
O(1); one that scans the id column with Arrow is_in pays O(rows) per request.

Each build gets a fresh server (--fsync none, so the WAL's fsync does not hide the lookup;
--index-workers 1), --rows rows put in 10k-row batches (int64 ids, --dim float32 vectors,
unique ids, a small graph: M 8, ef_construction 40) and waits until the rows are indexed; then
runs --deletes deletes of --ids ids each (not deleted before, spread over the dataset) and
--searches searches by id of live ids. The builds take turns, --reps times, each in a fresh
server. Prints the date, load and command, a JSON line per run and the medians per build.

    .venv/bin/python bench/delete/id_lookup_bench.py --binary before=<binary> \
        --binary after=<binary> [--rows 1000000] [--dim 4] [--ids 1000] [--deletes 5] \
        [--searches 200] [--reps 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snapshot"))
from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402
from snapshot_after_compaction import compare_builds  # noqa: E402


def run(workdir: Path, binary: str, args, seed: int) -> dict:
    """One server of `binary` in `workdir`: the dataset put and indexed, then the timed
    lookups; their medians and maxima (ms)."""
    os.environ["ARBALEST_BIN"] = binary
    rng = np.random.default_rng(seed)
    n = args.rows
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), args.dim))],
                       metadata={"arbalest.unique_id": "true", "index.m": "8",
                                 "index.ef_construction": "40"})
    table = pa.table([pa.array(np.arange(n), pa.int64()),
                      vector_array(rng.standard_normal((n, args.dim), dtype=np.float32))],
                     schema=schema)
    srv = ServerProcess(workdir, ["--fsync", "none", "--index-workers", "1", "--log-level",
                                  "warn"]).start()
    try:
        client = srv.data
        put_table(client, "bench", table, batch_size=10_000)
        ready = {}
        for _ in range(6):  # up to an hour
            ready = action(client, "check_readiness", {"dataset": "bench", "wait": 600})[0]
            if ready["status"] == "READY":
                break
        assert ready["status"] == "READY", ready
        order = iter(rng.permutation(n).tolist())
        deletes, searches = [], []
        for _ in range(args.deletes):
            ids = [next(order) for _ in range(args.ids)]
            start = time.perf_counter()
            deleted = action(client, "delete", {"dataset": "bench", "ids": ids})
            deletes.append((time.perf_counter() - start) * 1000)
            assert deleted[0]["deleted"] == args.ids, deleted
        for _ in range(args.searches):
            one = next(order)
            start = time.perf_counter()
            found = action(client, "VectorSearchByID", {"dataset": "bench", "id": one, "k": 10})
            searches.append((time.perf_counter() - start) * 1000)
            assert len(found[0]["ids"]) == 10 and one not in found[0]["ids"], found
    finally:
        srv.stop()
    return {"rows": n, "dim": args.dim,
            f"delete_{args.ids}_ids_median_ms": round(statistics.median(deletes), 3),
            "delete_max_ms": round(max(deletes), 3),
            "search_by_id_median_ms": round(statistics.median(searches), 3),
            "search_by_id_max_ms": round(max(searches), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", required=True, help="label=path")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=4)
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--deletes", type=int, default=5)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    results = compare_builds(args, run, "arbalest_id_lookup_")
    for label, lines in results.items():
        print(json.dumps({"build": label, **{key: statistics.median(line[key] for line in lines)
                                             for key in lines[0] if key.endswith("_ms")}}))


if __name__ == "__main__":
    main()
