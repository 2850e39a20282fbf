"""arbalest-cli: load files into datasets, search, scan, list, stats, drop, snapshot, and a
small ingest + search benchmark. `arbalest-cli COMMAND --help` describes each command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pyarrow as pa

from . import Client, __version__, convert
from .errors import ArbalestError, InvalidArgument

DEFAULT_URL = "grpc://127.0.0.1:3000"


def _cell(value, width: int = 80) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list):
        inner = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value[:4])
        text = f"[{inner}{', ...' if len(value) > 4 else ''}]"
    else:
        text = "null" if value is None else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def print_table(table: pa.Table, fmt: str = "table", out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        for row in table.to_pylist():
            out.write(json.dumps(row, default=str) + "\n")
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv
        plain = table.select([c for c in table.column_names
                              if not pa.types.is_fixed_size_list(table.schema.field(c).type)])
        sink = pa.BufferOutputStream()
        pacsv.write_csv(plain, sink)
        out.write(sink.getvalue().to_pybytes().decode())
        return
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    header = table.column_names
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    out.write(f"({table.num_rows} rows)\n")


def _query_vectors(args) -> np.ndarray | None:
    if args.vector is not None:
        try:
            values = json.loads(args.vector) if args.vector.lstrip().startswith("[") \
                else [float(v) for v in args.vector.replace(",", " ").split()]
        except ValueError as e:
            raise InvalidArgument(f"--vector: not a list of numbers ({e})") from None
        return np.asarray(values, dtype=np.float32)
    if args.vector_file is not None:
        matrix = np.load(args.vector_file)
        if matrix.ndim == 1:
            return matrix
        rows = [int(r) for r in args.rows.split(",")] if args.rows else range(len(matrix))
        return np.asarray(matrix[list(rows)], dtype=np.float32)
    return None


def cmd_load(db: Client, args) -> None:
    progress = False if args.no_progress else True
    text = None if args.text_columns is None else \
        [c for c in args.text_columns.split(",") if c]
    ds = db.dataset(args.dataset)
    started = time.monotonic()
    if args.mode == "overwrite":
        ds.drop(missing_ok=True)
    upsert = args.mode == "upsert"
    if ds.exists():
        rows = ds.insert(args.path, batch_size=args.batch_size, progress=progress,
                         format=args.format, mode="upsert" if upsert else "append")
    else:
        db.create_dataset(args.dataset, data=args.path, format=args.format, metric=args.metric,
                          element=args.element, index=_index(args), text_columns=text,
                          batch_size=args.batch_size, vector_column=args.vector_column,
                          progress=progress, unique_id=upsert)
        rows = ds.count()
    seconds = time.monotonic() - started
    print(f"loaded {rows} rows into {args.dataset} in {seconds:.1f} s "
          f"({rows / max(seconds, 1e-9):,.0f} rows/s)")
    if args.wait:
        ds.wait_ready()
        print(f"{args.dataset}: every row indexed")


def _index(args) -> dict | None:
    index = {}
    if args.quantization:
        index["quantization"] = args.quantization
    if args.m:
        index["m"] = args.m
    if args.ef_construction:
        index["ef_construction"] = args.ef_construction
    return index or None


def cmd_search(db: Client, args) -> None:
    vectors = _query_vectors(args)
    columns = args.columns.split(",") if args.columns else None
    table = db.dataset(args.dataset).search(vectors, k=args.k, where=args.where,
                                            text=args.text, alpha=args.alpha, ef=args.ef,
                                            columns=columns)
    print_table(table, args.format)


def cmd_scan(db: Client, args) -> None:
    columns = args.columns.split(",") if args.columns else None
    print_table(db.dataset(args.dataset).scan(where=args.where, columns=columns,
                                              limit=args.limit), args.format)


def cmd_datasets(db: Client, args) -> None:
    names = db.datasets()
    if args.format == "names":
        for name in names:
            print(name)
        return
    rows = []
    for name in names:
        s = db.dataset(name).stats()
        rows.append({"name": name, "rows": s["rows"], "dim": s["dim"],
                     "metric": (s.get("index") or {}).get("metric"),
                     "vector_type": s.get("vector_type"), "indexed_rows": s.get("indexed_rows"),
                     "bytes": s.get("bytes")})
    print_table(pa.Table.from_pylist(rows, schema=pa.schema(
        [("name", pa.string()), ("rows", pa.int64()), ("dim", pa.int64()),
         ("metric", pa.string()), ("vector_type", pa.string()), ("indexed_rows", pa.int64()),
         ("bytes", pa.int64())])), "table" if args.format == "table" else args.format)


def cmd_stats(db: Client, args) -> None:
    stats = db.dataset(args.dataset).stats() if args.dataset else db.stats()
    print(json.dumps(stats, indent=2, sort_keys=True))


def cmd_drop(db: Client, args) -> None:
    db.dataset(args.dataset).drop(missing_ok=args.missing_ok)
    print(f"dropped {args.dataset}")


def cmd_snapshot(db: Client, args) -> None:
    entries = [db.dataset(args.dataset).snapshot(args.timeout)] if args.dataset else \
        db.snapshot(args.timeout)
    print_table(pa.Table.from_pylist(entries) if entries else pa.table({"dataset": []}),
                "table")


def cmd_bench(db: Client, args) -> None:
    name = args.dataset or f"bench_{os.getpid()}"
    rng = np.random.default_rng(args.seed)
    ds = db.dataset(name)
    if ds.exists():
        raise InvalidArgument(f"dataset {name!r} exists; bench makes its own (--dataset)")
    vectors = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    if args.metric == "cosine":
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(args.rows, args.queries, replace=False)] + \
        rng.standard_normal((args.queries, args.dim), dtype=np.float32) * 0.1
    data = pa.table({"id": pa.array(np.arange(args.rows), pa.int64()),
                     "vector": pa.FixedSizeListArray.from_arrays(
                         pa.array(vectors.reshape(-1)), args.dim)})
    summary = []
    try:
        t0 = time.monotonic()
        db.create_dataset(name, data=data, metric=args.metric, batch_size=args.batch_size,
                          progress=not args.no_progress)
        ingest = time.monotonic() - t0
        summary.append(("ingest", f"{args.rows} x {args.dim}", f"{ingest:.2f} s",
                        f"{args.rows / ingest:,.0f} rows/s"))
        t0 = time.monotonic()
        ds.wait_ready()
        index = time.monotonic() - t0
        summary.append(("index (after ingest)", f"{args.rows} rows", f"{index:.2f} s", ""))
        latencies = []
        found = []
        for q in queries:
            t = time.perf_counter()
            result = ds.search(q, k=args.k, ef=args.ef, columns=[])
            latencies.append(time.perf_counter() - t)
            found.append(result.column("id").to_numpy())
        lat = np.array(latencies) * 1000
        summary.append(("search, one query a call", f"{args.queries} queries, k={args.k}",
                        f"p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms",
                        f"{len(lat) / lat.sum() * 1000:,.0f} queries/s"))
        t = time.perf_counter()
        ds.search(queries, k=args.k, ef=args.ef, columns=[])
        batch = time.perf_counter() - t
        summary.append(("search, all in one call", f"{args.queries} queries, k={args.k}",
                        f"{batch:.3f} s", f"{args.queries / batch:,.0f} queries/s"))
        truth = _brute_force(vectors, queries, args.k, args.metric)
        recall = np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth)])
        summary.append((f"recall@{args.k}", "vs numpy brute force", f"{recall:.4f}", ""))
    finally:
        if not args.keep:
            ds.drop(missing_ok=True)
    print_table(pa.Table.from_pylist([dict(zip(("step", "size", "time", "rate"), s))
                                      for s in summary]))


def _brute_force(vectors, queries, k, metric):
    if metric == "euclidean":
        d = (queries ** 2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors ** 2).sum(1)
    elif metric == "cosine":
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        d = -(qn @ vectors.T)
    else:
        d = -(queries @ vectors.T)
    return np.argsort(d, axis=1)[:, :k]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arbalest-cli", description="Command line for an Arbalest server: load data, "
        "search, scan, manage datasets, benchmark.")
    p.add_argument("--url", default=os.environ.get("ARBALEST_URL", DEFAULT_URL),
                   help=f"server URL (env ARBALEST_URL; default {DEFAULT_URL})")
    p.add_argument("--token", default=os.environ.get("ARBALEST_TOKEN"),
                   help="bearer token sent with every call (env ARBALEST_TOKEN)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per call")
    p.add_argument("--version", action="version", version=f"arbalest-cli {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = sub.add_parser("load", help="load a Parquet, CSV, JSON lines or .npy file into a "
                          "dataset (created if missing)")
    load.add_argument("dataset")
    load.add_argument("path", help="file, or directory of Parquet files")
    load.add_argument("--format", choices=convert.FILE_FORMATS,
                      help="file format (default: from the extension)")
    load.add_argument("--mode", choices=("append", "upsert", "overwrite"), default="append",
                      help="upsert: rows replace those with the same id (a new dataset is "
                      "created with unique ids; an existing one must have them)")
    load.add_argument("--metric", default="euclidean",
                      help="euclidean, cosine or dot_product (a new dataset)")
    load.add_argument("--element", default="float32",
                      help="stored vector type of a new dataset: float32, float16, int8, uint8")
    load.add_argument("--text-columns", help="comma-separated full-text columns of a new "
                      "dataset ('' for none; default every string column)")
    load.add_argument("--vector-column", default=None,
                      help="name of the vector column (default vector or embedding; the "
                      "column name for .npy files)")
    load.add_argument("--quantization", choices=("none", "sq8", "pq"))
    load.add_argument("--m", type=int, help="HNSW M of a new dataset")
    load.add_argument("--ef-construction", type=int)
    load.add_argument("--batch-size", type=int, default=10_000, help="rows per batch")
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    load.add_argument("--wait", action="store_true", help="wait until every row is indexed")
    load.set_defaults(func=cmd_load)

    search = sub.add_parser("search", help="nearest rows to a vector (and/or a text query)")
    search.add_argument("dataset")
    search.add_argument("--vector", help="query vector: JSON list or numbers separated by "
                        "spaces or commas")
    search.add_argument("--vector-file", help=".npy file of one vector or a matrix of them")
    search.add_argument("--rows", help="rows of --vector-file to search with, e.g. 0,5,9")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--where", help="filter, e.g. \"price < 10 and tag in ('a', 'b')\"")
    search.add_argument("--text", help="text query (hybrid search with BM25)")
    search.add_argument("--alpha", type=float, help="1 dense only, 0 text only, default 0.5")
    search.add_argument("--ef", type=int, help="HNSW candidate list size")
    search.add_argument("--columns", help="comma-separated columns to return")
    search.add_argument("--format", choices=("table", "json", "csv"), default="table")
    search.set_defaults(func=cmd_search)

    scan = sub.add_parser("scan", help="rows of a dataset, filtered")
    scan.add_argument("dataset")
    scan.add_argument("--where")
    scan.add_argument("--columns")
    scan.add_argument("--limit", type=int, default=20, help="default 20")
    scan.add_argument("--format", choices=("table", "json", "csv"), default="table")
    scan.set_defaults(func=cmd_scan)

    datasets = sub.add_parser("datasets", help="list datasets with rows, dim and metric")
    datasets.add_argument("--format", choices=("table", "json", "names"), default="table")
    datasets.set_defaults(func=cmd_datasets)

    stats = sub.add_parser("stats", help="stats of a dataset, or of the server (JSON)")
    stats.add_argument("dataset", nargs="?")
    stats.set_defaults(func=cmd_stats)

    drop = sub.add_parser("drop", help="delete a dataset")
    drop.add_argument("dataset")
    drop.add_argument("--missing-ok", action="store_true", help="no error when it is missing")
    drop.set_defaults(func=cmd_drop)

    snapshot = sub.add_parser("snapshot", help="snapshot a dataset, or every changed one")
    snapshot.add_argument("dataset", nargs="?")
    snapshot.add_argument("--timeout", type=float, help="seconds to wait for it")
    snapshot.set_defaults(func=cmd_snapshot)

    bench = sub.add_parser("bench", help="ingest random vectors, then time searches and "
                           "measure recall; prints a summary table and drops the dataset")
    bench.add_argument("--dataset", help="dataset to create (default bench_<pid>)")
    bench.add_argument("--rows", type=int, default=100_000)
    bench.add_argument("--dim", type=int, default=128)
    bench.add_argument("--queries", type=int, default=200)
    bench.add_argument("-k", type=int, default=10)
    bench.add_argument("--ef", type=int, default=None)
    bench.add_argument("--metric", default="euclidean",
                       choices=("euclidean", "cosine", "dot_product"))
    bench.add_argument("--batch-size", type=int, default=10_000)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--keep", action="store_true", help="keep the dataset afterwards")
    bench.add_argument("--no-progress", action="store_true")
    bench.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        db = Client(args.url, token=args.token, timeout=args.timeout)
        args.func(db, args)
    except ArbalestError as e:
        print(f"arbalest-cli: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"arbalest-cli: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
