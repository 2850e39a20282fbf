"""DoExchange: the "VectorSearch" command (batches of queries in, one result batch per query
out, equal to the DoGet search of the same query) and the ["ingest", dataset] path (DoPut over
a bidirectional stream, each batch acked with its batch_id), plus their bad inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, assert_tables_equal, exchange,
                           make_table, put_table, scan, unique_name, vector_array)

DIM = 16


@pytest.fixture(scope="module")
def dataset(server):
    name = unique_name("exchange")
    put_table(server.data, name, make_table(2000, d=DIM, rng=np.random.default_rng(4)))
    return name


def search(client, name, vector, k):
    ticket = {"search": {"dataset": name, "vector": list(map(float, vector)), "k": k}}
    return client.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def exchange_search(client, batches):
    return exchange(client, flight.FlightDescriptor.for_command(b"VectorSearch"), batches)


def same_answer(batch: pa.RecordBatch, expected: pa.Table) -> bool:
    """The exchange's answer equals the DoGet answer; the exchange declares `distance` nullable
    (dense and hybrid answers share one schema there), so nullability is not compared."""
    assert batch.schema.field("distance").nullable
    return pa.Table.from_batches([batch]).equals(expected.cast(batch.schema))


def query_batch(names, vectors, ks=None, vector_type=pa.float32()):
    columns = {"dataset": pa.array(names, pa.string()),
               "query_vector": vector_array(np.asarray(vectors), vector_type)}
    if ks is not None:
        columns["k"] = pa.array(ks, pa.int32())
    return pa.record_batch(columns)


def test_exchange_search_answers_each_query_like_doget(server, dataset):
    rng = np.random.default_rng(8)
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    batches = [query_batch([dataset] * 3, queries[:3], [3, 5, 1]),
               query_batch([dataset] * 2, queries[3:], [4, 2])]
    results = exchange_search(server.data, batches)
    assert [meta["query"] for _, meta in results] == [0, 1, 2, 3, 4]
    for (batch, meta), q, k in zip(results, queries, [3, 5, 1, 4, 2]):
        assert meta == {"query": meta["query"], "dataset": dataset, "rows": k}
        assert same_answer(batch, search(server.data, dataset, q, k))


def test_exchange_search_default_k_and_float64_lists(server, dataset):
    q = np.random.default_rng(9).standard_normal((1, DIM))
    batch = pa.record_batch({"dataset": pa.array([dataset]),
                             "query_vector": pa.array([q[0].tolist()], pa.list_(pa.float64()))})
    [(result, meta)] = exchange_search(server.data, [batch])
    assert meta["rows"] == 10
    assert same_answer(result, search(server.data, dataset, q[0], 10))


def test_exchange_search_with_text_query_alpha_and_filters(server, dataset):
    """Optional per-row columns text_query, alpha and filters (JSON text) answer like the
    search ticket with the same keys; a null leaves the key out for that row."""
    rng = np.random.default_rng(10)
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    filters = [{"field": "category", "op": ">", "value": 0}]
    batch = pa.record_batch({
        "dataset": pa.array([dataset] * 3),
        "query_vector": pa.array([queries[0].tolist(), queries[1].tolist(), None],
                                 pa.list_(pa.float32())),
        "k": pa.array([5, 5, 4], pa.int32()),
        "text_query": pa.array(["t3", None, "t5"]),
        "alpha": pa.array([0.5, None, 0.0]),
        "filters": pa.array([json.dumps(filters), json.dumps(filters), None]),
    })
    expected_keys = [
        {"vector": queries[0].tolist(), "k": 5, "text_query": "t3", "alpha": 0.5,
         "filters": filters},
        {"vector": queries[1].tolist(), "k": 5, "filters": filters},
        {"k": 4, "text_query": "t5", "alpha": 0},
    ]
    results = exchange_search(server.data, [batch.slice(0, 1)])
    results += exchange_search(server.data, [batch.slice(1, 1)])
    results += exchange_search(server.data, [batch.slice(2, 1)])
    for (result, meta), keys in zip(results, expected_keys):
        expected = scan(server.data, {"search": dict(keys, dataset=dataset)})
        assert same_answer(result, expected)
        assert meta["rows"] == expected.num_rows > 0
    got = pa.Table.from_batches([results[0][0]]).to_pydict()
    assert all(c > 0 for c in got["category"])
    assert set(pa.Table.from_batches([results[2][0]]).column("tag").to_pylist()) == {"t5"}


@pytest.mark.parametrize("make,needle", [
    (lambda ds: query_batch([ds], np.zeros((1, DIM))).append_column(
        "filters", pa.array(["[{\"field\": "])), "not valid JSON"),
    (lambda ds: query_batch([ds], np.zeros((1, DIM))).append_column(
        "filters", pa.array(['[{"field": "nope", "op": "=", "value": 1}]'])), "nope"),
    (lambda ds: query_batch([ds], np.zeros((1, DIM))).append_column(
        "text_query", pa.array([1], pa.int32())), "'text_query' must be a utf8 column"),
    (lambda ds: query_batch([ds], np.zeros((1, DIM))).append_column(
        "alpha", pa.array(["high"])), "'alpha' must be a numeric column"),
    (lambda ds: query_batch([ds], np.zeros((1, DIM))).append_column(
        "alpha", pa.array([2.0])), "alpha"),
])
def test_exchange_search_bad_hybrid_and_filter_columns(server, dataset, make, needle):
    with pytest.raises(INVALID_ARGUMENT) as raised:
        exchange_search(server.data, [make(dataset)])
    assert needle in str(raised.value), str(raised.value)
    assert search(server.data, dataset, np.zeros(DIM), 2).num_rows == 2  # still serving


@pytest.mark.parametrize("make,error,needle", [
    (lambda ds: query_batch([ds], np.zeros((1, DIM + 1))), INVALID_ARGUMENT, "width"),
    (lambda ds: query_batch([ds], np.zeros((1, DIM)), [0]), INVALID_ARGUMENT, "'k'"),
    (lambda ds: query_batch(["no_such_dataset"], np.zeros((1, DIM))), NOT_FOUND,
     "no_such_dataset"),
    (lambda ds: pa.record_batch({"dataset": pa.array([ds])}), INVALID_ARGUMENT, "query_vector"),
    (lambda ds: pa.record_batch({"query_vector": vector_array(np.zeros((1, DIM), np.float32))}),
     INVALID_ARGUMENT, "dataset"),
    (lambda ds: query_batch([ds], np.full((1, DIM), np.inf)), INVALID_ARGUMENT, "non-finite"),
])
def test_exchange_search_bad_queries(server, dataset, make, error, needle):
    with pytest.raises(error) as raised:
        exchange_search(server.data, [make(dataset)])
    assert needle in str(raised.value), str(raised.value)
    assert search(server.data, dataset, np.zeros(DIM), 2).num_rows == 2  # still serving


def test_exchange_ingest_acks_each_batch_with_its_id(server):
    name = unique_name("xingest")
    table = make_table(3000, d=DIM)
    writer, reader = server.data.do_exchange(flight.FlightDescriptor.for_path("ingest", name))
    acks = []
    with writer:
        writer.begin(table.schema)
        for batch in table.to_batches(max_chunksize=1000):
            writer.write_batch(batch)
            acks.append(json.loads(reader.read_chunk().app_metadata.to_pybytes()))
        writer.done_writing()
    assert [(a["status"], a["batch_id"], a["rows"]) for a in acks] == \
        [("acked", 0, 1000), ("acked", 1, 1000), ("acked", 2, 1000)]
    assert acks[0]["seq"] < acks[1]["seq"] < acks[2]["seq"]
    assert_tables_equal(scan(server.data, name), table, "exchange ingest")


def test_exchange_ingest_bad_batch_and_descriptor(server):
    name = unique_name("xbad")
    put_table(server.data, name, make_table(10, d=DIM))
    wrong = make_table(10, d=DIM + 2, start_id=10)
    writer, reader = server.data.do_exchange(flight.FlightDescriptor.for_path("ingest", name))
    with pytest.raises(INVALID_ARGUMENT) as raised:
        with writer:
            writer.begin(wrong.schema)
            writer.write_table(wrong)
            writer.done_writing()
            reader.read_chunk()
    assert "width" in str(raised.value) or "vector" in str(raised.value), str(raised.value)
    assert scan(server.data, name).num_rows == 10
    for descriptor in (flight.FlightDescriptor.for_path("other", name),
                       flight.FlightDescriptor.for_command(b"Nope")):
        writer, reader = server.data.do_exchange(descriptor)
        with pytest.raises(INVALID_ARGUMENT) as raised:
            with writer:
                writer.begin(wrong.schema)
                writer.done_writing()
                reader.read_chunk()
        assert "VectorSearch" in str(raised.value) and "ingest" in str(raised.value)


def test_exchange_mixes_dense_and_hybrid_queries(server, dataset):
    """Dense and hybrid queries in one batch: every answer declares `distance` nullable (a row
    only the text side found has none), so their schemas agree and the exchange serves them."""
    rng = np.random.default_rng(12)
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    batch = pa.record_batch({
        "dataset": pa.array([dataset] * 3),
        "query_vector": pa.array([q.tolist() for q in queries], pa.list_(pa.float32())),
        "k": pa.array([5, 5, 5], pa.int32()),
        "text_query": pa.array([None, "t3", None]),
        "alpha": pa.array([None, 0.3, None]),
    })
    results = exchange_search(server.data, [batch])
    assert len(results) == 3
    schemas = {str(result.schema) for result, _ in results}
    assert len(schemas) == 1, schemas
    assert results[0][0].schema.field("distance").nullable
    for (result, meta), i in zip(results, range(3)):
        assert meta["query"] == i and meta["rows"] == result.num_rows == 5
    dense = search(server.data, dataset, queries[0], 5)
    assert pa.Table.from_batches([results[0][0]]).column("id").equals(dense.column("id"))
