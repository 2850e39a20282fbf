"""DoExchange with the descriptor command "fetch": batches of ids in (a utf8 `dataset` column and
an `id` column), one batch of the live rows carrying them out per batch, with the ids not found
named in its app_metadata; a batch without ids (Longbow's operations script probes the data port
with a one-column table) acked as Longbow acks it. Bad input fails the exchange with a clear
error while the server serves on."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, exchange, make_table, put_table,
                           scan, unique_name)

FETCH = flight.FlightDescriptor.for_command(b"fetch")


def fetch(client, batches) -> list[tuple[pa.RecordBatch | None, dict]]:
    """One fetch exchange: writes `batches`, returns every answer as (rows, app_metadata)."""
    return exchange(client, FETCH, batches)


def ids_batch(dataset, ids, id_type=pa.int64()) -> pa.RecordBatch:
    return pa.record_batch({"dataset": pa.array([dataset] * len(ids), pa.string()),
                            "id": pa.array(ids, id_type)})


def rows_with_ids(table: pa.Table, ids) -> pa.Table:
    return table.filter(pc.is_in(table["id"], pa.array(ids, table.schema.field("id").type)))


@pytest.fixture(scope="module")
def dataset(server):
    name = unique_name("fetch")
    put_table(server.data, name, make_table(500, 8), batch_size=100)
    return name


def test_fetch_answers_each_batch_with_the_rows_of_its_ids(server, dataset):
    stored = scan(server.data, {"name": dataset})
    answers = fetch(server.data, [ids_batch(dataset, [250, 3, 999, 3, 120]),
                                  ids_batch(dataset, [499]),
                                  ids_batch(dataset, [-5, 1000])])
    assert [meta for _, meta in answers] == [
        {"batch": 0, "dataset": dataset, "requested": 5, "rows": 3, "missing": [999]},
        {"batch": 1, "dataset": dataset, "requested": 1, "rows": 1, "missing": []},
        {"batch": 2, "dataset": dataset, "requested": 2, "rows": 0, "missing": [-5, 1000]}]
    # The rows carrying the ids, each once, every stored column, in the dataset's order.
    got = [pa.Table.from_batches([rows]) for rows, _ in answers]
    assert got[0].equals(rows_with_ids(stored, [3, 120, 250]))
    assert got[1].equals(rows_with_ids(stored, [499]))
    assert got[2].num_rows == 0 and got[2].schema.equals(stored.schema)
    # Ids of any integer type are converted to the dataset's.
    [(rows, meta)] = fetch(server.data, [ids_batch(dataset, [42, 43], pa.uint16())])
    assert meta["rows"] == 2 and pa.Table.from_batches([rows]).equals(rows_with_ids(stored, [42, 43]))


def test_fetch_leaves_deleted_rows_out_and_takes_string_ids(server):
    name = unique_name("fetchstr")
    table = make_table(20, 4, id_type=pa.string())
    put_table(server.data, name, table)
    action(server.meta, "delete", {"dataset": name, "ids": ["key-4"]})
    [(rows, meta)] = fetch(server.data, [ids_batch(name, ["key-4", "key-5", "nope"], pa.string())])
    assert meta["missing"] == ["key-4", "nope"] and meta["rows"] == 1
    assert pa.Table.from_batches([rows]).equals(rows_with_ids(table, ["key-5"]))


def test_fetch_acks_longbows_probe_like_longbow(server):
    """Longbow's operations script sends a one-column string table on "fetch" and reads what
    comes back: each such batch is acked, as Longbow acks every DoExchange message."""
    writer, reader = server.data.do_exchange(FETCH)
    schema = pa.schema([("data", pa.string())])
    with writer:
        writer.begin(schema)
        writer.write_table(pa.Table.from_arrays([pa.array(["ping"])], schema=schema))
        writer.done_writing()
        chunks = list(reader)
    assert [(c.data, json.loads(c.app_metadata.to_pybytes())) for c in chunks] == [
        (None, {"status": "ack", "batch": 0, "rows": 1})]


@pytest.mark.parametrize("make, error, needle", [
    (lambda ds: ids_batch("no_such_dataset", [1]), NOT_FOUND,
     "dataset 'no_such_dataset' not found"),
    (lambda ds: ids_batch(ds, [1.5], pa.float64()), INVALID_ARGUMENT,
     "int64 ids, so 'id' must be a column of an integer type, got double"),
    (lambda ds: ids_batch(ds, ["1"], pa.string()), INVALID_ARGUMENT,
     "must be a column of an integer type, got string"),
    (lambda ds: ids_batch(ds, [], pa.int64()), INVALID_ARGUMENT, "batch 0 has no rows"),
    (lambda ds: ids_batch(ds, [1, None]), INVALID_ARGUMENT, "'id' is null in row 1"),
    (lambda ds: pa.record_batch({"id": pa.array([1], pa.int64())}), INVALID_ARGUMENT,
     "needs a utf8 'dataset' column"),
    (lambda ds: pa.record_batch({"dataset": pa.array([ds, "other"]),
                                 "id": pa.array([1, 2], pa.int64())}), INVALID_ARGUMENT,
     "one batch fetches from one dataset"),
    (lambda ds: ids_batch(ds, [2**63], pa.uint64()), INVALID_ARGUMENT,
     "is not a int64 id of dataset"),
])
def test_fetch_bad_input_is_refused_and_the_server_serves_on(server, dataset, make, error,
                                                             needle):
    with pytest.raises(error) as raised:
        fetch(server.data, [make(dataset)])
    assert needle in str(raised.value), str(raised.value)
    [(rows, meta)] = fetch(server.data, [ids_batch(dataset, [7])])
    assert rows.num_rows == 1 and meta["missing"] == []
