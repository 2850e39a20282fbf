#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/, docs/fuzzing.md).

Requests (ticket, action, filter) are the protocol's documents as the integration tests and
docs/protocol.md send them, aimed at the fixture store of fuzz/fuzz_store.cc. Ingest seeds are
Arrow IPC streams written by pyarrow, as a Flight client's DoPut sends them. The file seeds
(wal, manifest, tombstones, hnsw_file) are made by a real server: puts, deletes, a compaction,
a dataset drop and snapshots over Flight, then the files it wrote, the log converted to the
input format of fuzz/wal_input.h.

    .venv/bin/python scripts/fuzz_seeds.py      # needs build/release/arbalest (or ARBALEST_BIN)

Each target's folder is rewritten; files are named after a hash of their content. The wal,
manifest and hnsw_file folders keep the seeds already there besides: logs of records of row
numbers, manifests of older versions and graph files that hold their vectors, which older
builds wrote and this one still reads, but no longer writes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess  # noqa: E402

CORPUS = REPO / "fuzz" / "corpus"
WAL_HEADER = 24


# Targets whose older seeds stay: formats this build reads but no longer writes.
KEEP_OLDER = {"wal", "manifest", "hnsw_file"}


def write_corpus(target: str, seeds: list[bytes]) -> None:
    folder = CORPUS / target
    if target not in KEEP_OLDER:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (folder / hashlib.sha1(seed).hexdigest()[:16]).write_bytes(seed)
    print(f"{target}: {len(set(seeds))} seeds, {sum(map(len, set(seeds)))} bytes"
          f" ({len(list(folder.iterdir()))} in the folder)")


def dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# ---- requests against fuzz/fuzz_store.cc ---------------------------------------------------

DOCS_FILTERS = [
    [{"field": "category", "op": "=", "value": "news"}],
    [{"field": "price", "op": ">", "value": 1.5}, {"field": "count", "op": "<=", "value": 40}],
    [{"field": "count", "op": "in", "value": [-50, -43, 6]}],
    [{"field": "category", "op": "not in", "value": ["paper"]}],
    [{"field": "flag", "op": "=", "value": True}],
    [{"field": "ts", "op": ">=", "value": "2023-11-15T00:00:00"}],
    [{"field": "day", "op": "<", "value": 19010}],
    [{"field": "amount", "op": "<=", "value": "12.25"}],
    [{"field": "big", "op": "=", "value": 18446744073709551615}],
    [{"field": "small", "op": "!=", "value": 0}],
    [{"field": "body", "op": "contains", "value": "moon"}],
    [{"field": "category", "op": "prefix", "value": "ne"}],
    [{"field": "category", "op": "=", "value": None}],
    [{"logic": "or", "filters": [{"field": "id", "op": "<", "value": 3},
                                 {"logic": "not", "filters": [
                                     {"field": "flag", "operator": "==", "value": False}]}]}],
    {"field": "raw", "op": "=", "value": "xx"},
]


def ticket_seeds() -> list[bytes]:
    vector = [1, 2, 0.5, -3]
    seeds = [b"docs", b"codes", b"auto", b"missing", b"bad/name", b"", b"{}", b"[]"]
    seeds += [dumps({"dataset": "docs"}), dumps({"name": "auto", "limit": 2}),
              dumps({"dataset": "docs", "columns": ["id", "category", "tags"], "limit": 0}),
              dumps({"dataset": "codes", "filters": [{"field": "id", "op": "in",
                                                      "value": ["a", "ö"]}]})]
    seeds += [dumps({"dataset": "docs", "filters": f}) for f in DOCS_FILTERS]
    searches = [
        {"dataset": "docs", "vector": vector, "k": 5},
        {"dataset": "docs", "vector": vector, "k": 3, "ef": 40, "filters": DOCS_FILTERS[1]},
        {"dataset": "docs", "vector": vector, "columns": ["category", "id"],
         "include_vectors": True, "vector_format": "list", "local_only": False},
        {"dataset": "docs", "vector": vector, "text_query": "solar eclipse", "alpha": 0.3},
        {"name": "docs", "text_query": "naïve café", "alpha": 0, "k": 4},
        {"dataset": "docs", "vector": vector, "text_query": "moon", "alpha": -1},
        {"dataset": "codes", "vector": [1, 0.5, 0], "k": 2},
        {"dataset": "codes", "vector": [0, 0, 0], "k": 10000},
        {"dataset": "auto", "vector": [3, -4], "k": 1, "filters": [
            {"field": "label", "op": ">", "value": "p"}]},
        {"dataset": "docs", "vector": [1, 2], "k": 5},
        {"dataset": "docs", "vector": vector, "k": 0},
    ]
    seeds += [dumps({"search": s}) for s in searches]
    return seeds


def action_seeds() -> list[bytes]:
    vector = [1, 2, 0.5, -3]
    actions = [
        ("VectorSearch", {"dataset": "docs", "vector": vector, "k": 3}),
        ("VectorSearch", {"dataset": "docs", "vectors": [vector, [0, 0, 0, 0]], "k": 2,
                          "filters": DOCS_FILTERS[0]}),
        ("VectorSearch", {"dataset": "auto", "vector": [1, 1], "text_query": "p"}),
        ("HybridSearch", {"dataset": "docs", "vector": vector, "text_query": "rain",
                          "columns": ["body", "ts", "amount"], "include_vectors": True}),
        ("HybridSearch", {"dataset": "codes", "text_query": "note", "alpha": 0}),
        ("VectorSearchByID", {"dataset": "docs", "id": 5, "k": 3}),
        ("VectorSearchByID", {"dataset": "codes", "id": "a", "filters": [
            {"field": "note", "op": "contains", "value": "th"}]}),
        ("VectorSearchByID", {"name": "auto", "id": 2, "ef": 4}),
        ("delete", {"dataset": "docs", "ids": [1, 2, 3, 100]}),
        ("delete", {"dataset": "codes", "id": "b"}),
        ("delete", {"dataset": "auto", "ids": [0, 4]}),
        ("compact", {"dataset": "docs"}),
        ("check_readiness", {"dataset": "docs", "wait": 1}),
        ("check_readiness", {"wait": True}),
        ("check_readiness", {"dataset": "missing"}),
        ("stats", {"dataset": "docs"}),
        ("stats", {}),
        ("delete-dataset", {"dataset": "codes"}),
        ("snapshot", {"dataset": "docs"}),
        ("ForceSnapshot", {}),
    ]
    seeds = [name.encode() + b"\n" + dumps(body) for name, body in actions]
    seeds += [b"stats\n", b"stats", b"unknown\n{}", b"delete\n{\"dataset\": \"docs\"}"]
    return seeds


def filter_seeds() -> list[bytes]:
    filters = [
        [], {}, None,
        [{"field": "i8", "op": "=", "value": -128}],
        [{"field": "i16", "op": ">", "value": 1.5}],
        [{"field": "i32", "op": "<", "value": "7"}],
        [{"field": "i64", "op": "in", "value": [3, -9223372036854775808]}],
        [{"field": "u8", "op": "!=", "value": 256}],
        [{"field": "u16", "op": "ge", "value": -1}],
        [{"field": "u32", "op": "lte", "value": 4294967295}],
        [{"field": "u64", "op": "=", "value": 18446744073709551615}],
        [{"field": "f16", "op": ">", "value": 0.5}],
        [{"field": "f32", "op": "<", "value": 1e39}],
        [{"field": "f64", "op": "nin", "value": [0.1, 1e308]}],
        [{"field": "flag", "op": "=", "value": 1}],
        [{"field": "text", "op": "contains", "value": "café"}],
        [{"field": "text", "op": "starts_with", "value": ""}],
        [{"field": "large", "op": ">", "value": "a"}],
        [{"field": "raw", "op": "=", "value": "abc"}],
        [{"field": "ts", "op": ">=", "value": "2023-11-14T22:13:20Z"}],
        [{"field": "ts_utc", "op": "<", "value": "1970-01-01T00:00:00+01:00"}],
        [{"field": "ts", "op": "=", "value": 1700000000000}],
        [{"field": "day", "op": "=", "value": "2022-01-08"}],
        [{"field": "time", "op": ">", "value": 5}],
        [{"field": "amount", "op": "<", "value": 10.5}],
        [{"field": "amount", "op": "in", "value": ["0.00", "-1.25"]}],
        [{"field": "tags", "op": "=", "value": "a"}],
        [{"field": "vector", "op": "=", "value": [1, 2]}],
        [{"field": "with space", "op": "neq", "value": 2}],
        [{"field": "text", "op": "=", "value": None}, {"field": "i8", "op": "!=", "value": None}],
        {"logic": "or", "filters": [{"field": "i8", "op": "<", "value": 0},
                                    {"logic": "and", "filters": []}]},
        {"logic": "not", "filters": [{"field": "flag", "op": "=", "value": False}]},
        [{"logic": "xor", "filters": []}],
        [{"field": "missing", "op": "=", "value": 1}],
        [{"field": "i8", "op": "~", "value": 1}],
        [{"field": "i8", "op": "=", "value": 1, "extra": 2}],
    ]
    return [dumps(f) for f in filters]


# ---- ingest: IPC streams --------------------------------------------------------------------

def ipc_stream(schema: pa.Schema, batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def vectors(rows: int, dim: int, dtype=pa.float32(), seed: int = 0) -> pa.Array:
    rng = np.random.default_rng(seed)
    low = 0 if pa.types.is_unsigned_integer(dtype) else -100
    values = rng.integers(low, 100, rows * dim)
    return pa.FixedSizeListArray.from_arrays(pa.array(values).cast(dtype), dim)


def table(columns: dict, metadata: dict | None = None) -> pa.Table:
    return pa.table(columns).replace_schema_metadata(metadata)


def ingest_tables() -> list[pa.Table]:
    n = 12
    ids = pa.array(range(n), pa.int64())
    words = pa.array([f"word{i % 4} text {i}" for i in range(n)])
    return [
        table({"id": ids, "vector": vectors(n, 4), "category": words}),
        table({"vector": vectors(n, 3, pa.float16())}),
        table({"id": pa.array([f"id{i}" for i in range(n)]), "vector": vectors(n, 2, pa.int8()),
               "note": words}, {"longbow.metric": "cosine", "longbow.text.columns": "note"}),
        table({"id": pa.array(range(n), pa.uint64()), "embedding": vectors(n, 5, pa.uint8())},
              {"longbow.metric": "dot_product"}),
        table({"id": ids, "vector": vectors(n, 4, pa.float64()),
               "price": pa.array(np.linspace(-1, 1, n)), "flag": pa.array([i % 2 == 0 for i in range(n)])}),
        table({"id": pa.array(range(40), pa.int64()), "vector": vectors(40, 4, seed=1)},
              {"longbow.index.quantization": "sq8", "longbow.index.training_rows": "16",
               "longbow.index.m": "4", "longbow.index.ef_construction": "8"}),
        table({"id": pa.array(range(300), pa.int64()), "vector": vectors(300, 4, seed=2)},
              {"longbow.index.quantization": "pq", "longbow.index.pq_m": "2",
               "longbow.index.training_rows": "256", "longbow.index.build_precision": "float32"}),
        table({"id": pa.array([1, 1, 2, None], pa.int64()),
               "vector": pa.array([[1, 2], [3, 4], None, [5, 6]], pa.list_(pa.float32(), 2))}),
        table({"id": ids, "vector": vectors(n, 2),
               "tags": pa.array([["a", "b"]] * n), "when": pa.array(range(n), pa.timestamp("ms")),
               "large": pa.array(["x"] * n, pa.large_utf8()),
               "kind": pa.array(["a", "b", "a"] * 4).dictionary_encode(),
               "point": pa.array([{"x": i, "y": -i} for i in range(n)])}),
        table({"id": ids, "vector": pa.array([[1.0, 2.0]] * n, pa.list_(pa.float32()))}),
        table({"id": pa.array([], pa.int64()), "vector": vectors(0, 4)}),
        table({"id": ids, "vector": vectors(n, 4), "vector2": vectors(n, 4)},
              {"longbow.metric": "manhattan"}),
        table({"vector": vectors(4, 64, seed=3), "body": pa.array(["The quick brown fox", None,
                                                                  "jumps over", "Öl café 東京"])}),
    ]


def ingest_seeds() -> list[bytes]:
    seeds = []
    for t in ingest_tables():
        batches = t.to_batches(max_chunksize=max(1, (t.num_rows + 1) // 2))
        seeds.append(ipc_stream(t.schema, batches))
    # A schema alone (a dataset declared without rows).
    seeds.append(ipc_stream(ingest_tables()[0].schema, []))
    return seeds


# ---- files written by a real server ---------------------------------------------------------

def put(client: flight.FlightClient, name: str, t: pa.Table, chunk: int = 1000) -> None:
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(name), t.schema)
    writer.write_table(t, max_chunksize=chunk)
    writer.close()


def action(client: flight.FlightClient, name: str, body: dict) -> list:
    return [json.loads(r.body.to_pybytes() or b"null")
            for r in client.do_action(flight.Action(name, dumps(body)))]


def server_workload(client: flight.FlightClient) -> None:
    """Datasets of every kind the files describe: deletes, a compaction, a drop."""
    tables = ingest_tables()
    for i in (0, 1, 2, 3, 4, 5, 6, 12):
        put(client, f"ds{i}", tables[i], chunk=8 if tables[i].num_rows < 100 else 150)
    # Enough deleted rows for a bitmap container in the tombstones (over 4096 in a 64Ki range).
    put(client, "many", table({"vector": vectors(9000, 1, seed=4)}), chunk=4500)
    action(client, "delete", {"dataset": "ds0", "ids": [1, 5, 7]})
    action(client, "delete", {"dataset": "ds2", "ids": ["id3"]})
    action(client, "delete", {"dataset": "many", "ids": list(range(0, 9000, 2))})
    action(client, "delete", {"dataset": "ds5", "ids": list(range(0, 40, 3))})
    action(client, "compact", {"dataset": "ds5"})
    action(client, "delete", {"dataset": "ds5", "ids": [4]})
    action(client, "delete-dataset", {"dataset": "ds4"})
    put(client, "ds4", tables[4].slice(0, 3))


def wal_records(wal_dir: Path) -> list[list[tuple[int, bytes]]]:
    """The records of each segment, in order: [(lsn, payload), ...] per segment."""
    segments = []
    for path in sorted(wal_dir.glob("*.wal")):
        data, at, records = path.read_bytes(), 0, []
        while at + WAL_HEADER <= len(data):
            length, lsn = struct.unpack_from("<IQ", data, at + 4)
            if length == 0 and lsn == 0:
                break  # zeros past the last record
            records.append((lsn, data[at + WAL_HEADER:at + WAL_HEADER + length]))
            at += WAL_HEADER + length
        segments.append(records)
    return segments


def wal_input(segments: list[list[tuple[int, bytes]]], options: int = 0,
              damage: dict[int, int] | None = None) -> bytes:
    """fuzz/wal_input.h's format; `damage` maps a record's index to extra chunk flags."""
    out, lsn, index = bytearray([options]), 0, 0
    for s, records in enumerate(segments):
        for r, (record_lsn, payload) in enumerate(records):
            flags = (1 if r == 0 and s > 0 else 0) | (damage or {}).get(index, 0)
            step = record_lsn - lsn
            if step > 255 or len(payload) > 65535:
                raise ValueError("record does not fit the seed format")
            out += struct.pack("<BBH", flags, step, len(payload)) + payload
            lsn, index = record_lsn, index + 1
    return bytes(out)


def record_dataset(payload: bytes) -> str:
    (length,) = struct.unpack_from("<H", payload, 1)
    return payload[3:3 + length].decode()


def wal_seeds(wal_dir: Path) -> list[bytes]:
    """The whole log once; then, without the large dataset `many`, parts and damaged copies."""
    whole = [s for s in wal_records(wal_dir) if s]
    seeds = [wal_input(whole)]
    segments = [[r for r in s if record_dataset(r[1]) != "many"] for s in whole]
    segments = [s for s in segments if s]
    records = [r for s in segments for r in s]
    seeds.append(wal_input(segments, options=1))
    # Each segment alone, and each dataset's first records alone (create + first append).
    seeds += [wal_input([s]) for s in segments[:8]]
    seeds += [wal_input([records[i:i + 2]]) for i in range(0, min(len(records), 24), 3)]
    # Damage: a torn tail, bad checksums (with and without --wal-skip-corrupt), garbage.
    head = segments[:3]
    last = sum(map(len, head)) - 1
    seeds += [wal_input(head, damage={last: 16}),
              wal_input(head, damage={3: 4}), wal_input(head, options=1, damage={3: 8}),
              wal_input(head, options=1, damage={5: 4})]
    seeds.append(wal_input(segments[:1]) + struct.pack("<BBH", 2, 0, 40) + bytes(40))
    return seeds


def snapshot_files(snapshot_dir: Path) -> dict[str, list[bytes]]:
    """A snapshot directory's files by the target that reads them: the manifest, each sealed
    segment's graph (its vectors kept apart, in the segment's vectors file) and the Roaring
    bitmaps (a segment's deleted rows, the dataset's gone row keys)."""
    files = {"manifest": [], "tombstones": [], "hnsw_file": []}
    for folder in sorted(snapshot_dir.iterdir()):
        files["manifest"].append((folder / "MANIFEST.json").read_bytes())
        if not folder.name.startswith("many@"):  # a graph of 9000 rows is over 1 MB
            files["hnsw_file"] += [p.read_bytes() for p in sorted(folder.glob("seg-*-graph-*"))]
        bitmaps = sorted(folder.glob("seg-*-deleted-*.roaring")) + sorted(folder.glob("gone-keys*"))
        files["tombstones"] += [p.read_bytes() for p in bitmaps]
    return files


def manifest_variants(manifest: bytes) -> list[bytes]:
    """A manifest with each key the loader needs taken out, and with values it must refuse."""
    doc = json.loads(manifest)
    variants = []
    for key in ("format_version", "lsn", "indexed_rows", "put_schema", "segments", "index", "keys",
                "layout"):
        changed = dict(doc)
        changed.pop(key, None)
        variants.append(changed)
    segment = doc["segments"][0]
    segment_files = segment["files"]
    rows_file = segment_files["rows"][0]

    def with_segment(**changes):
        return dict(doc, segments=[dict(segment, **changes)] + doc["segments"][1:])

    variants += [
        dict(doc, format_version=7), dict(doc, rows=-1), dict(doc, indexed_rows=10**20),
        dict(doc, schema="bm90IGEgc2NoZW1h"), dict(doc, put_schema="%%%"),
        dict(doc, keys={"next": 1, "gone": 0}), dict(doc, keys={"next": 2**40, "gone": 5}),
        dict(doc, layout=-1),
        with_segment(graph=dict(segment["graph"], name="../x")),
        with_segment(graph=dict(segment["graph"], xxh3="zz")),
        with_segment(first_row=segment["first_row"] + 1),
        with_segment(linked_rows=segment["rows"] + 1),
        with_segment(files=dict(segment_files, rows=[dict(rows_file, first_row=1)])),
        with_segment(files=dict(segment_files, rows=[dict(rows_file, rows=rows_file["rows"] + 1)])),
        with_segment(files=dict(segment_files, vectors=dict(segment_files["vectors"], row_bytes=0))),
        dict(doc, segments=doc["segments"] + doc["segments"][:1]),  # a segment listed twice
    ]
    return [dumps(v) for v in variants] + [manifest[:len(manifest) // 2]]


def roaring_portable(values: list[int]) -> bytes:
    """The portable Roaring format (array containers only) for small handmade bitmaps."""
    keys = sorted({v >> 16 for v in values})
    out = struct.pack("<II", 12346, len(keys))
    groups = [[v & 0xFFFF for v in sorted(set(values)) if v >> 16 == k] for k in keys]
    for k, g in zip(keys, groups):
        out += struct.pack("<HH", k, len(g) - 1)
    offset = len(out) + 4 * len(keys)
    for g in groups:
        out += struct.pack("<I", offset)
        offset += 2 * len(g)
    for g in groups:
        out += struct.pack(f"<{len(g)}H", *g)
    return out


def server_seeds(binary_dir: Path) -> dict[str, list[bytes]]:
    """The workload on a real server, killed: its log (its compaction renumbers the row keys:
    a rekey record). Restarted: a compaction (whose rows' keys become gone) and a snapshot,
    whose files are the other seeds. Small segments, never merged, so that a manifest lists
    several."""
    args = ["--wal-segment-size", "8KiB", "--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
            "--compact-deleted-fraction", "0", "--index-workers", "1",
            "--segment-max-bytes", "2KiB", "--segment-merge", "false"]
    server = ServerProcess(binary_dir / "server",
                           extra_args=args + ["--compact-rekey-keys", "0"]).start()
    try:
        server_workload(server.data)
        action(server.data, "check_readiness", {"wait": 60})
    finally:
        server.stop(signal.SIGKILL)
    wal = wal_seeds(server.data_dir / "wal")
    server.extra_args = args
    server.start()
    try:
        action(server.data, "check_readiness", {"wait": 60})
        action(server.data, "compact", {"dataset": "ds0"})
        action(server.data, "snapshot", {})
    finally:
        server.stop()
    files = snapshot_files(server.data_dir / "snapshots")
    files["wal"] = wal
    several = sorted(files["manifest"], key=lambda m: -len(json.loads(m)["segments"]))
    files["manifest"] += [v for m in several[:2] for v in manifest_variants(m)]
    files["tombstones"] += [roaring_portable([]), roaring_portable([0, 1, 2, 70000]),
                            roaring_portable([5]) + b"\x00", roaring_portable([1, 2])[:-1]]
    return files


def main() -> None:
    write_corpus("ticket", ticket_seeds())
    write_corpus("action", action_seeds())
    write_corpus("filter", filter_seeds())
    write_corpus("ingest", ingest_seeds())
    with tempfile.TemporaryDirectory(prefix="arbalest_fuzz_seeds_") as work:
        for target, seeds in sorted(server_seeds(Path(work)).items()):
            write_corpus(target, seeds)


if __name__ == "__main__":
    main()
