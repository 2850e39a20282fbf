"""Id lookups of a dataset with unique ids through the server, for two builds side by side:
delete by id (one request of --ids ids, spread over the dataset) and VectorSearchByID (one id
per request), at --rows rows. A build that answers through the id map looks each id up in
O(1); one that scans the id column with Arrow is_in pays O(rows) per request.

Each build gets a fresh server (--fsync none, so the WAL's fsync does not hide the lookup;
--index-workers 1), --rows rows put in 10k-row batches (int64 ids, --dim float32 vectors,
unique ids, a small graph: M 8, ef_construction 40) and waits until the rows are indexed; then
runs, --reps times, a delete of --ids ids not deleted before and --searches searches by id of
live ids. The builds take turns (--rounds times), each in a fresh server. Prints a JSON line per
measurement and the medians per build.

    .venv/bin/python bench/delete/id_lookup_bench.py --bin before=<binary> --bin after=<binary>
        [--rows 1000000] [--dim 4] [--ids 1000] [--reps 5] [--searches 200] [--rounds 1]
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
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402


def measure(binary: str, args, rng) -> dict[str, list[float]]:
    """One server of `binary`: the dataset put and indexed, then the timed lookups (ms)."""
    os.environ["ARBALEST_BIN"] = binary
    n = args.rows
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), args.dim))],
                       metadata={"arbalest.unique_id": "true", "index.m": "8",
                                 "index.ef_construction": "40"})
    table = pa.table([pa.array(np.arange(n), pa.int64()),
                      vector_array(rng.standard_normal((n, args.dim), dtype=np.float32))],
                     schema=schema)
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp), ["--fsync", "none", "--index-workers", "1",
                                        "--log-level", "warn"])
        srv.start()
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
            times: dict[str, list[float]] = {"delete": [], "search_by_id": []}
            for _ in range(args.reps):
                ids = [next(order) for _ in range(args.ids)]
                start = time.perf_counter()
                deleted = action(client, "delete", {"dataset": "bench", "ids": ids})
                times["delete"].append((time.perf_counter() - start) * 1000)
                assert deleted[0]["deleted"] == args.ids, deleted
            for _ in range(args.searches):
                one = next(order)
                start = time.perf_counter()
                found = action(client, "VectorSearchByID", {"dataset": "bench", "id": one, "k": 10})
                times["search_by_id"].append((time.perf_counter() - start) * 1000)
                assert len(found[0]["ids"]) == 10 and one not in found[0]["ids"], found
            return times
        finally:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append", required=True, help="label=path")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=4)
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    builds = dict(spec.split("=", 1) for spec in args.bin)
    results: dict[str, dict[str, list[float]]] = {
        label: {"delete": [], "search_by_id": []} for label in builds}
    for round_ in range(args.rounds):
        for label, binary in builds.items():
            times = measure(binary, args, np.random.default_rng(round_))
            for what, values in times.items():
                results[label][what] += values
                print(json.dumps({"build": label, "round": round_, "what": what,
                                  "median_ms": round(statistics.median(values), 3),
                                  "max_ms": round(max(values), 3)}), flush=True)
    for label, by_what in results.items():
        print(json.dumps({"build": label, "rows": args.rows, "dim": args.dim,
                          f"delete_{args.ids}_ids_median_ms":
                              round(statistics.median(by_what["delete"]), 3),
                          "search_by_id_median_ms":
                              round(statistics.median(by_what["search_by_id"]), 3)}), flush=True)
    bins = " ".join(f"--bin {label}=<{label} binary>" for label in builds)
    print(f"reproduce: .venv/bin/python bench/delete/id_lookup_bench.py {bins} --rows {args.rows} "
          f"--dim {args.dim} --ids {args.ids} --reps {args.reps} --searches {args.searches} "
          f"--rounds {args.rounds}")


if __name__ == "__main__":
    main()
