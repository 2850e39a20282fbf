"""Quantized HNSW over Flight: datasets created with schema metadata
`longbow.index.quantization` = `pq` (optionally `longbow.index.pq_m`) or `sq8`, so that the
graph is traversed on codes and the candidates re-ranked on the full vectors; checked against
numpy brute force (recall@10, true distances), the `quantization` entry of `stats`, and bad
metadata refused at creation; a PQ graph saved by a snapshot is mapped back after a restart.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import INVALID_ARGUMENT, action, put_table, stats, unique_name, vector_array
from test_search import brute_force, clustered, search, wait_ready
from test_snapshots import NO_TRIGGERS, restart_after_sigkill

DIM = 64
ROWS = 12_000  # past both training thresholds: 10240 rows for PQ, 4096 for SQ8


def create(server, metadata, vectors, value_type=pa.float32()):
    name = unique_name("quantized")
    schema = pa.schema([pa.field("id", pa.int64()),
                        pa.field("vector", pa.list_(value_type, vectors.shape[1]))],
                       metadata={"longbow.index.ef_construction": "100", **metadata})
    table = pa.Table.from_arrays(
        [pa.array(np.arange(len(vectors)), pa.int64()), vector_array(vectors, value_type)],
        schema=schema)
    put_table(server.data, name, table, batch_size=4000)
    return name


@pytest.mark.parametrize("metadata, expected", [
    ({"longbow.index.quantization": "pq", "longbow.index.pq_m": "8"},
     {"type": "pq", "pq_m": 8, "trained": True}),
    ({"longbow.index.quantization": "pq"}, {"type": "pq", "pq_m": 16, "trained": True}),
    ({"longbow.index.quantization": "sq8"}, {"type": "sq8", "trained": True}),
], ids=["pq8", "pq-default", "sq8"])
def test_quantized_search_recall_against_numpy(server, metadata, expected):
    rng = np.random.default_rng(31)
    vectors = clustered(rng, ROWS, DIM)
    name = create(server, metadata, vectors)
    wait_ready(server.data, name)
    assert stats(server.meta, name)["quantization"] == expected
    hits = 0
    queries = clustered(np.random.default_rng(32), 100, DIM)
    for q in queries:
        got = search(server.data, name, q, k=10, ef=100)
        assert got.num_rows == 10
        want_rows, _ = brute_force(vectors, q, 10)
        ids = got.column("id").to_numpy()
        hits += len(set(ids.tolist()) & set(want_rows.tolist()))
        # Re-ranked: the distances are the true L2 distances of the rows returned, sorted.
        dist = got.column("distance").to_numpy()
        assert np.all(np.diff(dist) >= 0)
        np.testing.assert_allclose(dist, np.linalg.norm(vectors[ids] - q, axis=1), rtol=1e-3,
                                   atol=1e-3)
    recall = hits / (10 * len(queries))
    assert recall >= 0.93, f"recall@10 {recall:.3f} at ef=100 with {metadata}"


def test_pq_graph_is_mapped_back_after_a_restart(start_server):
    srv = start_server(NO_TRIGGERS)
    vectors = clustered(np.random.default_rng(34), ROWS, DIM)
    name = create(srv, {"longbow.index.quantization": "pq"}, vectors)
    wait_ready(srv.data, name)
    queries = clustered(np.random.default_rng(35), 20, DIM)
    before = [search(srv.data, name, q, k=10, ef=50) for q in queries]
    assert action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"][0]["indexed_rows"] == ROWS
    srv = restart_after_sigkill(srv)
    st = stats(srv.data, name)
    assert st["index_restored_rows"] == ROWS, st
    assert st["quantization"] == {"type": "pq", "pq_m": 16, "trained": True}, st
    for q, want in zip(queries, before):
        assert search(srv.data, name, q, k=10, ef=50).equals(want)


def test_unquantized_dataset_reports_no_quantization(server):
    name = create(server, {}, clustered(np.random.default_rng(33), 100, DIM))
    assert stats(server.meta, name)["quantization"] is None


def test_training_rows_sets_when_codes_are_learnt(server):
    vectors = clustered(np.random.default_rng(36), 1000, DIM)
    sq8 = {"longbow.index.quantization": "sq8"}
    early = create(server, {**sq8, "longbow.index.training_rows": "500"}, vectors)
    default = create(server, sq8, vectors)  # 4096 rows by default: not reached
    wait_ready(server.data, early)
    wait_ready(server.data, default)
    assert stats(server.meta, early)["quantization"] == {"type": "sq8", "trained": True}
    assert stats(server.meta, default)["quantization"] == {"type": "sq8", "trained": False}
    q = vectors[7]
    assert search(server.data, early, q, k=1, ef=50).column("id").to_pylist() == [7]


@pytest.mark.parametrize("metadata, value_type, expected", [
    ({}, pa.float32(), {"metric": "euclidean", "m": 16, "ef_construction": 100,
                        "build_precision": "int8"}),
    ({"longbow.index.build_precision": "float32", "longbow.index.m": "8",
      "longbow.metric": "dot_product"}, pa.float32(),
     {"metric": "dot_product", "m": 8, "ef_construction": 100, "build_precision": "float32"}),
    ({"longbow.index.build_precision": "float16"}, pa.float32(),
     {"metric": "euclidean", "m": 16, "ef_construction": 100, "build_precision": "float16"}),
    ({}, pa.int8(), {"metric": "euclidean", "m": 16, "ef_construction": 100,
                     "build_precision": "int8"}),
    ({}, pa.float16(), {"metric": "euclidean", "m": 16, "ef_construction": 100,
                        "build_precision": "float16"}),
], ids=["default", "configured", "float16-copies", "int8", "float16-rows"])
def test_stats_report_the_index_configuration(server, metadata, value_type, expected):
    vectors = np.ones((4, DIM), value_type.to_pandas_dtype())
    name = create(server, metadata, vectors, value_type)
    assert stats(server.meta, name)["index"] == expected


@pytest.mark.parametrize("metadata, value_type, needle", [
    ({"longbow.index.quantization": "pq4"}, pa.float32(), "none, sq8 or pq"),
    ({"longbow.index.quantization": "pq", "longbow.index.pq_m": "7"}, pa.float32(),
     "must divide the dimension"),
    ({"longbow.index.quantization": "pq", "longbow.index.pq_m": "0"}, pa.float32(),
     "positive integer"),
    ({"longbow.index.quantization": "pq"}, pa.int8(), "float32"),
    ({"longbow.index.build_precision": "bf16"}, pa.float32(), "float16 or float32"),
    ({"longbow.index.quantization": "pq", "longbow.index.training_rows": "100"}, pa.float32(),
     "at least 256 training rows, got 100"),
    ({"longbow.index.training_rows": "-5"}, pa.float32(), "training_rows' must be a positive"),
], ids=["unknown", "pq_m-not-dividing", "pq_m-zero", "int8", "build-precision",
        "training-rows-too-few", "training-rows-negative"])
def test_bad_quantization_metadata_is_refused(server, metadata, value_type, needle):
    vectors = np.ones((4, DIM), np.int8 if pa.types.is_int8(value_type) else np.float32)
    with pytest.raises(INVALID_ARGUMENT, match=needle):
        create(server, metadata, vectors, value_type)


def test_int8_build_precision_is_honoured(server):
    """`longbow.index.build_precision` = `int8`: inserts compare int8 codes of the float32 rows
    (stats say so); searches stay exact float32 with the float16 build's recall bar."""
    rng = np.random.default_rng(37)
    vectors = clustered(rng, 3000, DIM)
    name = create(server, {"longbow.index.build_precision": "int8"}, vectors)
    wait_ready(server.data, name)
    assert stats(server.meta, name)["index"]["build_precision"] == "int8"
    hits = 0
    queries = clustered(np.random.default_rng(38), 50, DIM)
    for q in queries:
        got = search(server.data, name, q, k=10, ef=64)
        want_rows, want_dist = brute_force(vectors, q, 10)
        hits += len(set(got.column("id").to_pylist()) & set(want_rows.tolist()))
    assert hits / (10 * len(queries)) >= 0.95
    with pytest.raises(INVALID_ARGUMENT,
                       match="build_precision' must be int8, float16 or float32, got 'int16'"):
        create(server, {"longbow.index.build_precision": "int16"}, vectors[:4])
