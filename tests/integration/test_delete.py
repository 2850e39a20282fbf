"""Deletes by id and VectorSearchByID over the wire: deleted rows vanish from scans, searches
(graph and not-yet-indexed rows, with and without filters), stats and the catalog; search by id
agrees with a numpy brute force; bad bodies get the right status and the server keeps serving.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, make_table, put_table, scan,
                           stats, unique_name, vectors_of)

DIM = 16


def delete(client, body) -> int:
    results = action(client, "delete", body)
    assert len(results) == 1, results
    return results[0]["deleted"]


def search(client, name, vector, k, **keys) -> pa.Table:
    body = {"dataset": name, "vector": [float(x) for x in vector], "k": k, **keys}
    return scan(client, {"search": body})


def search_by_id(client, name, id_value, k, **keys) -> dict:
    results = action(client, "VectorSearchByID", {"dataset": name, "id": id_value, "k": k, **keys})
    assert len(results) == 1, results
    return results[0]


def wait_indexed(client, name, timeout=60):
    ready = action(client, "check_readiness", {"dataset": name, "wait": timeout})[0]
    assert ready["status"] == "READY", f"{name} not indexed after {timeout}s: {ready}"


def ids_of(table: pa.Table) -> list:
    return table.column("id").to_pylist()


def nearest(vectors: np.ndarray, candidates: np.ndarray, query: np.ndarray, k: int) -> list:
    """Positions (within `vectors`) of the k candidate rows nearest to `query`, by L2."""
    distances = np.linalg.norm(vectors[candidates] - query, axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return candidates[order].tolist()


@pytest.fixture
def table():
    return make_table(600, DIM, rng=np.random.default_rng(11))


def test_deleted_rows_vanish_from_scans_searches_stats_and_catalog(server, ds, table):
    put_table(server.data, ds, table, batch_size=200)
    vectors = vectors_of(table.column("vector"))
    assert delete(server.data, {"dataset": ds, "id": 5}) == 1
    assert delete(server.data, {"dataset": ds, "ids": [6, "7", 199, 200, 999999]}) == 4
    assert delete(server.meta, {"name": ds, "ids": [5, 6]}) == 0  # already deleted: not an error
    gone = {5, 6, 7, 199, 200}

    scanned = ids_of(scan(server.data, ds))
    assert len(scanned) == 595 and not gone & set(scanned)
    assert sorted(scanned) == sorted(set(range(600)) - gone)
    below_10 = [{"field": "id", "op": "<", "value": 10}]
    filtered = scan(server.data, {"dataset": ds, "filters": below_10})
    assert sorted(ids_of(filtered)) == [0, 1, 2, 3, 4, 8, 9]

    for query_id in (5, 200):
        found = ids_of(search(server.data, ds, vectors[query_id], 10))
        assert len(found) == 10 and not gone & set(found), found
    raw = server.data.do_action(flight.Action("VectorSearch", json.dumps(
        {"dataset": ds, "vectors": [vectors[6].tolist()], "k": 5}).encode()))
    batch = pa.ipc.open_stream(next(iter(raw)).body).read_all()
    assert batch.num_rows == 5 and not gone & set(ids_of(batch))

    one = stats(server.data, ds)
    assert (one["rows"], one["deleted_rows"]) == (595, 5)
    everything = action(server.meta, "stats")[0]
    assert everything["total_deleted_rows"] >= 5
    info = server.meta.get_flight_info(flight.FlightDescriptor.for_path(ds))
    assert info.total_records == 595
    listed = [i for i in server.meta.list_flights() if i.descriptor.path[0].decode() == ds]
    assert [i.total_records for i in listed] == [595]
    criteria = json.dumps({"name": ds, "filters": [{"field": "rows", "op": "=", "value": 595}]})
    assert len(list(server.meta.list_flights(criteria.encode()))) == 1


def test_deleted_rows_never_in_filtered_search_results(server, ds):
    n = 3000
    table = make_table(n, 8, rng=np.random.default_rng(12))
    category = table.column("category").to_numpy()
    vectors = vectors_of(table.column("vector"))
    matching = np.nonzero(category > 0)[0]
    # Delete 90% of the matching rows before the index has caught up, and the rest of the
    # dataset's nearest rows stay: a filtered search must still find k live matching rows.
    put_table(server.data, ds, table, batch_size=500)
    doomed = matching[np.arange(len(matching)) % 10 != 0]
    assert delete(server.data, {"dataset": ds, "ids": doomed.tolist()}) == len(doomed)
    live_matching = set(matching.tolist()) - set(doomed.tolist())
    rng = np.random.default_rng(13)
    filters = [{"field": "category", "op": ">", "value": 0}]
    for when in ("while indexing", "indexed"):
        if when == "indexed":
            wait_indexed(server.data, ds)
        for query in rng.standard_normal((10, 8)):
            found = ids_of(search(server.data, ds, query, 20, filters=filters))
            assert len(found) == 20, (when, found)
            assert set(found) <= live_matching, (when, set(found) - live_matching)
            expected = nearest(vectors, np.array(sorted(live_matching)), query, 20)
            assert len(set(found) & set(expected)) >= 18, when  # approximate, but close
            unfiltered = ids_of(search(server.data, ds, query, 20))
            assert not set(unfiltered) & set(doomed.tolist()), when


@pytest.mark.parametrize("id_kind", ["int64", "utf8", "assigned"])
def test_vector_search_by_id_matches_brute_force(server, id_kind):
    name = unique_name(f"byid_{id_kind}")
    rng = np.random.default_rng(14)
    n, k = 500, 8
    id_type = pa.string() if id_kind == "utf8" else pa.int64()
    table = make_table(n, DIM, rng=rng, id_type=id_type, with_ids=id_kind != "assigned")
    put_table(server.data, name, table, batch_size=125)
    ids = table.column("id").to_pylist() if id_kind != "assigned" else list(range(n))
    vectors = vectors_of(table.column("vector"))
    category = table.column("category").to_numpy()
    deleted = [3, 50, 51, 52, 400]
    assert delete(server.data, {"dataset": name, "ids": [ids[i] for i in deleted]}) == 5
    wait_indexed(server.data, name)
    live = np.array([i for i in range(n) if i not in deleted])
    for row in (0, 49, 250, 499):
        got = search_by_id(server.data, name, ids[row], k, ef=n)
        others = live[live != row]
        expected = nearest(vectors, others, vectors[row], k)
        assert got["ids"] == [ids[i] for i in expected], row
        distances = np.linalg.norm(vectors[expected] - vectors[row], axis=1)
        np.testing.assert_allclose(got["scores"], 1 / (1 + distances), rtol=1e-4)
        filtered = search_by_id(server.meta, name, ids[row], k, ef=n,
                                filters=[{"field": "category", "op": "<", "value": 0}])
        expected = nearest(vectors, others[category[others] < 0], vectors[row], k)
        assert filtered["ids"] == [ids[i] for i in expected], row
    for missing in (ids[50], "no-such-id" if id_kind == "utf8" else 10**9):
        with pytest.raises(NOT_FOUND, match=f"id {missing} not found in dataset '{name}'"):
            search_by_id(server.data, name, missing, k)


@pytest.fixture(scope="module")
def victim(server):
    name = unique_name("delete_victim")
    put_table(server.data, name, make_table(300, DIM, rng=np.random.default_rng(15)))
    return name


@pytest.mark.parametrize("body, message", [
    ({"ids": ["abc"]}, r"'ids' entry 0 \(\"abc\"\) is not an id of dataset .*int64"),
    ({"id": 1.5}, r"'id' \(1.5\) is not an id"),
    ({"ids": [1, None]}, r"'ids' entry 1 \(null\)"),
    ({"ids": [[1]]}, r"'ids' entry 0 \(\[1\]\)"),
    ({"id": True}, r"'id' \(true\)"),
    ({"ids": []}, r"'ids' must be a non-empty JSON array"),
    ({"ids": 5}, r"'ids' must be a non-empty JSON array"),
    ({"id": [1, 2]}, r"'id' must be one id"),
    ({}, r"action 'delete' needs"),
    ({"id": 1, "ids": [1]}, r"action 'delete' needs"),
    ({"id": 1, "bogus": 2}, r"unknown key 'bogus'"),
], ids=["string-for-int", "fraction", "null", "nested", "bool", "empty", "not-list",
        "list-as-id", "no-id", "id-and-ids", "unknown-key"])
def test_bad_delete_bodies_are_invalid(server, victim, body, message):
    with pytest.raises(INVALID_ARGUMENT, match=message):
        action(server.data, "delete", {"dataset": victim, **body})
    assert stats(server.data, victim)["rows"] == 300 and server.alive()


@pytest.mark.parametrize("body, error, message", [
    (b"not json", INVALID_ARGUMENT, "not valid JSON"),
    ({"id": 1}, INVALID_ARGUMENT, "needs"),
    ({"dataset": "bad name!", "id": 1}, INVALID_ARGUMENT, "bad name!"),
    ({"dataset": "no_such_dataset", "id": 1}, NOT_FOUND, "dataset 'no_such_dataset' not found"),
], ids=["not-json", "no-dataset", "bad-name", "unknown-dataset"])
def test_delete_needs_an_existing_dataset(server, victim, body, error, message):
    with pytest.raises(error, match=message):
        action(server.data, "delete", body)
    assert stats(server.data, victim)["rows"] == 300 and server.alive()


def test_uint64_ids_refuse_negative_numbers(server, ds):
    put_table(server.data, ds, make_table(10, DIM, with_ids=False))
    with pytest.raises(INVALID_ARGUMENT, match=r"'ids' entry 1 \(-1\).*uint64"):
        action(server.data, "delete", {"dataset": ds, "ids": [1, -1]})
    assert delete(server.data, {"dataset": ds, "ids": [1, "2", 18446744073709551615]}) == 2
    assert sorted(ids_of(scan(server.data, ds))) == [0, 3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("body, error, message", [
    ({"k": 3}, INVALID_ARGUMENT, "needs 'id'"),
    ({"id": True, "k": 3}, INVALID_ARGUMENT, "'id' in body of action 'VectorSearchByID' must be"),
    ({"id": "x", "k": 3}, INVALID_ARGUMENT, r"'id' \(\"x\"\) is not an id"),
    ({"id": 1, "k": 0}, INVALID_ARGUMENT, "'k' must be between"),
    ({"id": 1, "k": 3, "vector": [1.0]}, INVALID_ARGUMENT, "unknown key 'vector'"),
    ({"id": 1, "k": 3, "filters": [{"field": "nope", "op": "=", "value": 1}]}, INVALID_ARGUMENT,
     "filter field 'nope' does not exist"),
    ({"id": 123456, "k": 3}, NOT_FOUND, "id 123456 not found"),
    ({"dataset": "no_such_dataset", "id": 1}, NOT_FOUND, "dataset 'no_such_dataset' not found"),
], ids=["no-id", "bool-id", "bad-id", "k0", "unknown-key", "bad-filter", "unknown-id",
        "unknown-dataset"])
def test_bad_search_by_id_requests(server, victim, body, error, message):
    with pytest.raises(error, match=message):
        action(server.data, "VectorSearchByID", {"dataset": victim, **body})
    assert len(search_by_id(server.data, victim, 1, 3)["ids"]) == 3 and server.alive()
