"""What unique ids cost a put: sequential DoPut calls of one batch of `--rows` rows (int64 ids,
vectors), alternating between a plain dataset (every put appends new ids), a dataset with
unique ids receiving new ids (the id map grows: no row replaced), and a dataset with unique ids
receiving the same ids every time (every row replaces one: the tombstones and the upsert
record's bitmap). Alternating puts see the same machine load. Prints one JSON line with the
median milliseconds of each.

Usage: .venv/bin/python bench/ingest/upsert_put_cost.py --port 3000 [--rows 10000 --dim 128
       --puts 20]
"""

import argparse
import json
import statistics
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import put_seconds  # noqa: E402


def make_table(ids, dim, rng, metadata):
    vectors = pa.FixedSizeListArray.from_arrays(
        pa.array(rng.standard_normal(len(ids) * dim, dtype=np.float32)), dim)
    return pa.table({"id": pa.array(ids, pa.int64()), "vector": vectors}) \
        .replace_schema_metadata(metadata)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--puts", type=int, default=20)
    args = parser.parse_args()
    client = flight.connect(f"grpc://{args.host}:{args.port}")
    rng = np.random.default_rng(1)
    unique = {"arbalest.unique_id": "true"}
    modes = {"plain": None, "unique_new_ids": unique, "unique_replacing": unique}
    names = {mode: f"upsert_put_cost_{mode}_{uuid.uuid4().hex[:8]}" for mode in modes}
    times = {mode: [] for mode in modes}
    for put in range(args.puts):
        fresh = np.arange(put * args.rows, (put + 1) * args.rows)
        for mode, metadata in modes.items():
            ids = np.arange(args.rows) if mode == "unique_replacing" else fresh
            table = make_table(ids, args.dim, rng, metadata)
            times[mode].append(put_seconds(client, names[mode], table))
    median = {mode: round(statistics.median(t) * 1e3, 2) for mode, t in times.items()}
    print(json.dumps({"rows": args.rows, "dim": args.dim, "puts": args.puts,
                      **{f"median_ms_{mode}": ms for mode, ms in median.items()}}))


if __name__ == "__main__":
    main()
