"""Vector search over Flight (DoGet search tickets, the VectorSearch and check_readiness
actions), checked against numpy brute force on the same rows: recall of the served HNSW index,
exact answers for rows not indexed yet, filters, metrics, vector types, result columns, and
every kind of bad search input.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, put_table, scan, unique_name,
                           vector_array, vectors_of)

DIM = 384
ROWS = 50_000
CATEGORIES = 100


def clustered(rng, n, d=DIM, clusters=64, centres_seed=11):
    """Points around seeded centres along a low-rank subspace per cluster, like real
    embeddings (uniform noise in 384-d makes all neighbours nearly equidistant)."""
    centres_rng = np.random.default_rng(centres_seed)
    centres = centres_rng.standard_normal((clusters, d)).astype(np.float32)
    bases = centres_rng.standard_normal((clusters, 16, d)).astype(np.float32) / np.sqrt(16)
    which = rng.integers(0, clusters, n)
    coords = rng.standard_normal((n, 16)).astype(np.float32)
    spread = np.einsum("nk,nkd->nd", coords, bases[which])
    noise = 0.05 * rng.standard_normal((n, d)).astype(np.float32)
    return (centres[which] + spread + noise).astype(np.float32)


def search(client, dataset, vector, **keys) -> pa.Table:
    ticket = {"search": {"dataset": dataset, "vector": np.asarray(vector).tolist(), **keys}}
    return client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def wait_ready(client, dataset, seconds=300):
    status = action(client, "check_readiness", {"dataset": dataset, "wait": seconds})[0]
    assert status["status"] == "READY", status
    return status


def brute_force(vectors, query, k, metric="euclidean", rows=None):
    """(row indices, protocol distances) of the exact top k, nearest first."""
    x = vectors.astype(np.float32)
    q = np.asarray(query, np.float32)
    if metric == "euclidean":
        dist = np.sqrt(np.maximum(((x - q) ** 2).sum(axis=1), 0))
    elif metric == "cosine":
        dist = 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    else:
        dist = -(x @ q)
    candidates = np.arange(len(x)) if rows is None else np.asarray(rows)
    order = candidates[np.argsort(dist[candidates], kind="stable")[:k]]
    return order, dist[order]


@pytest.fixture(scope="module")
def big(server):
    """50k x 384 clustered float32 rows, indexed with ef_construction 100."""
    rng = np.random.default_rng(2024)
    vectors = clustered(rng, ROWS)
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), DIM)),
                        pa.field("category", pa.int32()), pa.field("tag", pa.string())],
                       metadata={"longbow.index.ef_construction": "100"})
    table = pa.Table.from_arrays(
        [pa.array(np.arange(ROWS) * 7, pa.int64()), vector_array(vectors),
         pa.array(rng.integers(0, CATEGORIES, ROWS), pa.int32()),
         pa.array([f"t{i % 13}" for i in range(ROWS)])], schema=schema)
    name = unique_name("big")
    put_table(server.data, name, table, batch_size=5000)
    status = wait_ready(server.meta, name)
    assert status["index_len"] == ROWS and status["pending"] == 0, status
    return name, table, vectors, clustered(np.random.default_rng(7), 100)


def test_recall_at_10_against_numpy(server, big):
    name, table, vectors, queries = big
    ids = table.column("id").to_numpy()
    hits = 0
    # At ef 100 this index's recall sits at the bar (0.950-0.960 over four builds, with either
    # build precision: insertion order varies with the threads), so a 0.949 could fail a sound
    # index; at ef 128 it was 0.969-0.970 in all four.
    for q in queries:
        got = search(server.data, name, q, k=10, ef=128)
        assert got.schema.names[:3] == ["id", "score", "distance"]
        assert got.num_rows == 10
        want_rows, want_dist = brute_force(vectors, q, 10)
        hits += len(set(got.column("id").to_pylist()) & set(ids[want_rows].tolist()))
        # Distances are true L2 distances of the returned rows, sorted, score = 1/(1+d).
        dist = got.column("distance").to_numpy()
        assert np.all(np.diff(dist) >= 0)
        returned = vectors[got.column("id").to_numpy() // 7]
        np.testing.assert_allclose(dist, np.linalg.norm(returned - q, axis=1), rtol=1e-3,
                                   atol=1e-3)
        np.testing.assert_allclose(got.column("score").to_numpy(), 1 / (1 + dist), rtol=1e-5)
        assert dist[0] >= want_dist[0] - 1e-3
    recall = hits / (10 * len(queries))
    assert recall >= 0.95, f"recall@10 {recall:.3f} at ef=128"


@pytest.mark.parametrize("selectivity", [0.5, 0.1, 0.01, 0.001])
def test_filtered_search_returns_k_matching_rows(server, big, selectivity):
    name, table, vectors, queries = big
    category = table.column("category").to_numpy()
    limit = max(1, int(CATEGORIES * selectivity))
    filters = [{"field": "category", "op": "<", "value": limit}]
    if selectivity == 0.001:  # 1 category of 100 and 1 tag of 13: about 0.08% of rows
        filters.append({"field": "tag", "op": "=", "value": "t3"})
    tags = np.array(table.column("tag").to_pylist())
    matching = np.nonzero((category < limit) & ((tags == "t3") if len(filters) > 1 else True))[0]
    assert len(matching) >= 10
    hits = 0
    for q in queries[:20]:
        got = search(server.data, name, q, k=10, ef=100, filters=filters)
        assert got.num_rows == 10, f"{got.num_rows} rows for a filter matching {len(matching)}"
        assert all(c < limit for c in got.column("category").to_pylist())
        want, _ = brute_force(vectors, q, 10, rows=matching)
        hits += len(set(got.column("id").to_pylist()) & set((want * 7).tolist()))
    assert hits / 200 >= 0.9, f"filtered recall@10 {hits / 200:.3f} at selectivity {selectivity}"


def test_filter_matching_fewer_than_k_rows_returns_them_all(server, big):
    name, table, _, queries = big
    ids = table.column("id").to_pylist()[:3]
    got = search(server.data, name, queries[0], k=10,
                 filters=[{"field": "id", "op": "in", "value": ids}])
    assert sorted(got.column("id").to_pylist()) == ids


def test_vector_search_action_answers_each_query_like_doget(server, big):
    name, _, _, queries = big
    results = list(server.data.do_action(flight.Action("VectorSearch", json.dumps(
        {"dataset": name, "vectors": queries[:3].tolist(), "k": 5, "ef": 80}).encode())))
    assert len(results) == 3
    for q, result in zip(queries[:3], results):
        got = ipc.open_stream(result.body).read_all()
        want = search(server.data, name, q, k=5, ef=80)
        assert got.equals(want)


def test_rows_are_searchable_as_soon_as_acked(server):
    """The index lags behind puts; rows not in the graph yet are scanned exactly."""
    name = unique_name("fresh")
    rng = np.random.default_rng(5)
    for round_ in range(4):
        vectors = clustered(rng, 3000)
        start = round_ * 3000
        put_table(server.data, name, pa.table({
            "id": pa.array(np.arange(start, start + 3000), pa.int64()),
            "vector": vector_array(vectors)}))
        for row in (0, 1499, 2999):
            got = search(server.data, name, vectors[row], k=3)
            assert got.column("id")[0].as_py() == start + row
            assert got.column("distance")[0].as_py() == pytest.approx(0, abs=1e-3)
    wait_ready(server.data, name)
    # Once indexed, the same answers come from the graph.
    got = search(server.data, name, vectors[2999], k=3, ef=64)
    assert got.column("id")[0].as_py() == 3 * 3000 + 2999


@pytest.mark.parametrize("metric", ["cosine", "dot_product"])
def test_metric_from_schema_metadata(server, metric):
    name = unique_name(metric)
    rng = np.random.default_rng(9)
    n, d = 2000, 32
    vectors = rng.standard_normal((n, d)).astype(np.float32) * rng.uniform(0.5, 2, (n, 1))
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), d))],
                       metadata={"longbow.metric": metric})
    put_table(server.data, name, pa.Table.from_arrays(
        [pa.array(np.arange(n), pa.int64()), vector_array(vectors)], schema=schema))
    wait_ready(server.data, name)
    for q in rng.standard_normal((5, d)).astype(np.float32):
        got = search(server.data, name, q, k=10, ef=200)
        want_rows, want_dist = brute_force(vectors, q, 10, metric)
        assert got.column("id").to_pylist() == want_rows.tolist()
        np.testing.assert_allclose(got.column("distance").to_numpy(), want_dist, rtol=1e-3,
                                   atol=1e-4)
        score = got.column("score").to_numpy()
        assert np.all(np.diff(score) <= 0), "scores must fall, best first"
        if metric == "dot_product":
            np.testing.assert_allclose(score, vectors[want_rows] @ q, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("value_type", [pa.int8(), pa.float16(), pa.uint8()])
def test_compact_vector_types_answer_float32_queries(server, value_type):
    name = unique_name(str(value_type))
    rng = np.random.default_rng(13)
    n, d = 3000, 48
    base = clustered(rng, n, d) * 30
    if pa.types.is_int8(value_type):
        vectors = np.clip(np.round(base), -128, 127).astype(np.int8)
    elif pa.types.is_uint8(value_type):
        vectors = np.clip(np.round(base + 128), 0, 255).astype(np.uint8)
    else:
        vectors = (base / 30).astype(np.float16)
    put_table(server.data, name, pa.table({"id": pa.array(np.arange(n), pa.int64()),
                                           "vector": vector_array(vectors, value_type)}))
    wait_ready(server.data, name)
    hits = 0
    for q in vectors[::300].astype(np.float32) + 0.25:
        got = search(server.data, name, q, k=10, ef=100)
        want, want_dist = brute_force(vectors.astype(np.float32), q, 10)
        hits += len(set(got.column("id").to_pylist()) & set(want.tolist()))
        assert got.column("distance")[0].as_py() == pytest.approx(want_dist[0], rel=1e-3)
    assert hits / 100 >= 0.95


def test_result_columns_ids_and_vectors(server):
    name = unique_name("cols")
    rng = np.random.default_rng(17)
    n, d = 500, 16
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    table = pa.table({"id": pa.array([f"doc-{i}" for i in range(n)]),
                      "vector": vector_array(vectors),
                      "price": pa.array(rng.uniform(0, 100, n)),
                      "title": pa.array([f"title {i}" for i in range(n)])})
    put_table(server.data, name, table)
    q = vectors[42]
    default = search(server.data, name, q, k=4)
    assert default.schema.names == ["id", "score", "distance", "price", "title"]
    assert default.schema.field("id").type == pa.string()
    assert default.column("id")[0].as_py() == "doc-42"
    assert default.column("title")[0].as_py() == "title 42"
    assert search(server.data, name, q, k=4, columns=[]).schema.names == ["id", "score",
                                                                          "distance"]
    narrowed = search(server.data, name, q, k=4, columns=["title"], include_vectors=True)
    assert narrowed.schema.names == ["id", "score", "distance", "title", "vector"]
    rows = [int(i.split("-")[1]) for i in narrowed.column("id").to_pylist()]
    np.testing.assert_array_equal(vectors_of(narrowed.column("vector")), vectors[rows])


def test_search_of_empty_dataset_returns_no_rows(server):
    name = unique_name("empty")
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", pa.list_(pa.float32(), 4))])
    writer, _ = server.data.do_put(flight.FlightDescriptor.for_path(name), schema)
    writer.close()
    got = search(server.data, name, [0, 0, 0, 1], k=3)
    assert got.num_rows == 0 and got.schema.names[:3] == ["id", "score", "distance"]


def test_check_readiness(server):
    assert action(server.data, "check_readiness", {"dataset": unique_name("nope")})[0][
        "status"] == "NOT_FOUND"
    name = unique_name("ready")
    n = 4000
    put_table(server.data, name, pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "vector": vector_array(clustered(np.random.default_rng(1), n, 64))}))
    first = action(server.data, "check_readiness", {"dataset": name})[0]
    assert first["status"] in ("READY", "BUSY")
    assert first["index_len"] + first["pending"] == n
    done = wait_ready(server.data, name)
    assert done == {**done, "index_len": n, "pending": 0}
    everything = action(server.meta, "check_readiness", {"wait": 60})[0]
    assert everything["status"] == "READY" and everything["index_len"] >= n


def _raw_search(client, ticket: str):
    return client.do_get(flight.Ticket(ticket.encode())).read_all()


@pytest.fixture(scope="module")
def small(server):
    name = unique_name("small")
    put_table(server.data, name, pa.table({
        "id": pa.array(np.arange(100), pa.int64()),
        "vector": vector_array(np.random.default_rng(3).standard_normal((100, 4)).astype(
            np.float32)),
        "n": pa.array(np.arange(100), pa.int32())}))
    return name


BAD_SEARCHES = [
    ({"vector": [1, 2, 3]}, INVALID_ARGUMENT, "width 3"),
    ({"vector": [1, 2, 3, 4], "k": 0}, INVALID_ARGUMENT, "'k'"),
    ({"vector": [1, 2, 3, 4], "k": 10**7}, INVALID_ARGUMENT, "'k'"),
    ({"vector": [1, 2, 3, 4], "k": "ten"}, INVALID_ARGUMENT, "'k'"),
    ({"vector": [1, 2, 3, 4], "ef": -1}, INVALID_ARGUMENT, "'ef'"),
    ({"vector": [1, 2, 3, 4], "colour": "red"}, INVALID_ARGUMENT, "colour"),
    ({"vector": "1,2,3,4"}, INVALID_ARGUMENT, "'vector'"),
    ({"vector": [1, "2", 3, 4]}, INVALID_ARGUMENT, "'vector'"),
    ({"vector": []}, INVALID_ARGUMENT, "'vector'"),
    ({}, INVALID_ARGUMENT, "vector"),
    ({"vector": [1, 2, 3, 4], "filters": [{"field": "missing", "op": "=", "value": 1}]},
     INVALID_ARGUMENT, "missing"),
    ({"vector": [1, 2, 3, 4], "filters": [{"field": "n", "op": "=", "value": "abc"}]},
     INVALID_ARGUMENT, "abc"),
    ({"vector": [1, 2, 3, 4], "columns": ["nope"]}, INVALID_ARGUMENT, "nope"),
    ({"vector": [1, 2, 3, 4], "include_vectors": "yes"}, INVALID_ARGUMENT, "include_vectors"),
]


@pytest.mark.parametrize("keys,error,needle", BAD_SEARCHES,
                         ids=[needle.strip("'") for _, _, needle in BAD_SEARCHES])
def test_bad_search_input(server, small, keys, error, needle):
    ticket = {"search": {"dataset": small, **keys}}
    with pytest.raises(error) as raised:
        _raw_search(server.data, json.dumps(ticket))
    assert needle.lower() in str(raised.value).lower(), str(raised.value)
    with pytest.raises(error):  # the action answers the same
        list(server.data.do_action(flight.Action("VectorSearch", json.dumps(
            {"dataset": small, **keys}).encode())))
    # The server keeps serving the same dataset.
    assert search(server.data, small, [0, 0, 0, 0], k=3).num_rows == 3


def test_non_finite_query_values(server, small):
    for raw in ("[1e999, 0, 0, 0]", "[NaN, 0, 0, 0]", "[0, 0, -Infinity, 0]"):
        ticket = '{"search": {"dataset": "%s", "vector": %s}}' % (small, raw)
        with pytest.raises(INVALID_ARGUMENT) as raised:
            _raw_search(server.data, ticket)
        message = str(raised.value).lower()
        assert "non-finite" in message or "json" in message, message


def test_search_of_unknown_dataset_is_not_found(server):
    missing = unique_name("missing")
    with pytest.raises(NOT_FOUND) as raised:
        search(server.data, missing, [1, 2, 3, 4])
    assert missing in str(raised.value)


def test_bad_readiness_requests(server):
    for body, needle in (({"wait": -1}, "wait"), ({"wait": "soon"}, "wait"),
                         ({"datset": "x"}, "datset")):
        with pytest.raises(INVALID_ARGUMENT) as raised:
            action(server.data, "check_readiness", body)
        assert needle in str(raised.value)


def test_scan_and_search_agree_on_rows(server, small):
    """Every row a search returns is a stored row with the same columns."""
    stored = scan(server.data, small)
    got = search(server.data, small, [0.5, -0.5, 0.25, 1], k=100)
    assert got.num_rows == 100
    assert sorted(got.column("id").to_pylist()) == sorted(stored.column("id").to_pylist())
    joined = got.select(["id", "n"]).join(stored.select(["id", "n"]), "id",
                                          right_suffix="_stored")
    assert pc.all(pc.equal(joined.column("n"), joined.column("n_stored"))).as_py()
