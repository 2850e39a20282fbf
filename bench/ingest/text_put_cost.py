"""What full-text indexing adds to a put: sequential DoPut calls of one 10k-row batch (vectors
plus a utf8 `text` column of short sentences), alternating between a dataset that indexes the
column (the default) and one that opts out (schema metadata longbow.text.columns = ""), against
a running server. Alternating puts see the same machine load, so the difference of the medians
is the cost of indexing. Prints one JSON line.

Usage: .venv/bin/python bench/ingest/text_put_cost.py --port 3000 [--rows 10000 --dim 384
       --words 8 --puts 20]
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


def make_table(rows, dim, words, rng, metadata):
    vocabulary = np.array([f"word{i}" for i in range(5000)])
    texts = [" ".join(s) for s in vocabulary[rng.integers(0, 5000, (rows, words))]]
    vectors = pa.FixedSizeListArray.from_arrays(
        pa.array(rng.standard_normal(rows * dim, dtype=np.float32)), dim)
    return pa.table({"vector": vectors, "text": pa.array(texts)}).replace_schema_metadata(metadata)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--words", type=int, default=8)
    parser.add_argument("--puts", type=int, default=20)
    args = parser.parse_args()
    client = flight.connect(f"grpc://{args.host}:{args.port}")
    rng = np.random.default_rng(1)
    tables = {"off": make_table(args.rows, args.dim, args.words, rng, {"longbow.text.columns": ""}),
              "on": make_table(args.rows, args.dim, args.words, rng, None)}
    names = {mode: f"text_put_cost_{mode}_{uuid.uuid4().hex[:8]}" for mode in tables}
    times = {mode: [] for mode in tables}
    for _ in range(args.puts):
        for mode in ("off", "on"):
            times[mode].append(put_seconds(client, names[mode], tables[mode]))
    median = {mode: statistics.median(t) * 1e3 for mode, t in times.items()}
    print(json.dumps({"rows": args.rows, "dim": args.dim, "words": args.words, "puts": args.puts,
                      "median_ms_text_off": round(median["off"], 2),
                      "median_ms_text_on": round(median["on"], 2),
                      "added_ms": round(median["on"] - median["off"], 2)}))


if __name__ == "__main__":
    main()
