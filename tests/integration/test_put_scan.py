"""DoPut then DoGet: what goes in comes back out, unchanged, in put order."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest

from arbalest_util import (assert_tables_equal, make_table, put_table, random_vectors, scan,
                           sort_by_id, stats, vector_array, vector_type, vectors_of)


def test_roundtrip_200k_x_384_float32(server, ds):
    n, d, batch = 200_000, 384, 10_000
    rng = np.random.default_rng(2024)
    # Ids: unique, shuffled, some beyond 2**53 (must come back untruncated).
    ids = rng.choice(np.int64(2) ** 62, size=n, replace=False).astype(np.int64)
    ids[:3] = [np.iinfo(np.int64).max, np.iinfo(np.int64).min, -1]
    vectors = rng.standard_normal((n, d), dtype=np.float32)
    ts_us = 1_700_000_000_000_000 + rng.integers(0, 10**12, n)
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "vector": vector_array(vectors),
        "title": pa.array([f"doc {i} \u00e9\u4e2d" for i in range(n)], pa.string()),
        "score": pa.array(rng.standard_normal(n), pa.float64()),
        "created": pa.array(ts_us, pa.timestamp("us")),
    })
    acks = put_table(server.data, ds, table, batch_size=batch)
    assert [a["rows"] for a in acks] == [batch] * (n // batch)

    got = scan(server.data, ds)
    assert got.schema.names == table.schema.names
    assert got.num_rows == n
    # Content: compare as sets of rows (sorted by id), vectors bit for bit.
    got_sorted, want_sorted = sort_by_id(got), sort_by_id(table)
    assert_tables_equal(got_sorted, want_sorted, "200k round trip (sorted by id)")
    assert np.array_equal(vectors_of(got_sorted["vector"]).view(np.uint32),
                          vectors_of(want_sorted["vector"]).view(np.uint32))
    # Single writer: rows come back in put order.
    assert got["id"].to_numpy().tolist() == ids.tolist(), "rows not returned in put order"

    assert server.meta.get_schema(flight.FlightDescriptor.for_path(ds)).schema \
        .equals(table.schema)
    # The meta port sees the same store.
    via_meta = scan(server.meta, {"dataset": ds, "columns": ["id"]})
    assert via_meta["id"].to_numpy().tolist() == ids.tolist()
    st = stats(server.meta, ds)
    assert (st["rows"], st["dim"], st["vector_type"], st["id_type"]) == \
        (n, d, "float32", "int64")


@pytest.mark.parametrize("value_type,name", [
    (pa.int8(), "int8"), (pa.uint8(), "uint8"), (pa.float16(), "float16"),
    (pa.float32(), "float32")])
def test_vector_types_roundtrip(server, ds, value_type, name):
    table = make_table(3000, d=48, value_type=value_type)
    put_table(server.data, ds, table, batch_size=1000)
    got = scan(server.data, ds)
    assert_tables_equal(got, table, f"{name} vectors")
    got_v, want_v = vectors_of(got["vector"]), vectors_of(table["vector"])
    assert got_v.dtype == want_v.dtype
    assert np.array_equal(got_v.view(np.uint8), want_v.view(np.uint8))
    st = stats(server.data, ds)
    assert st["vector_type"] == name
    assert st["dim"] == 48


def test_float64_vectors_stored_as_float32(server, ds):
    table = make_table(1500, d=16, value_type=pa.float64())
    put_table(server.data, ds, table, batch_size=500)
    got = scan(server.data, ds)
    vtype = got.schema.field("vector").type
    assert pa.types.is_fixed_size_list(vtype)
    assert vtype.value_type == pa.float32()
    assert vtype.list_size == 16
    want = vectors_of(table["vector"]).astype(np.float32)
    assert np.array_equal(vectors_of(got["vector"]), want)
    # Everything else unchanged.
    others = [c for c in table.schema.names if c != "vector"]
    assert_tables_equal(got.select(others), table.select(others), "float64 dataset")
    schema = server.meta.get_schema(flight.FlightDescriptor.for_path(ds)).schema
    assert schema.field("vector").type.value_type == pa.float32()
    assert stats(server.meta, ds)["vector_type"] == "float32"
    # A later float64 put into the same dataset is converted the same way.
    more = make_table(100, d=16, start_id=1500, value_type=pa.float64())
    put_table(server.data, ds, more)
    got = scan(server.data, {"dataset": ds, "columns": ["id", "vector"]})
    assert got.num_rows == 1600
    assert np.array_equal(vectors_of(got["vector"])[1500:],
                          vectors_of(more["vector"]).astype(np.float32))


def test_embedding_alias_keeps_its_name(server, ds):
    table = make_table(200, d=12, vector_name="embedding")
    put_table(server.data, ds, table)
    got = scan(server.data, ds)
    assert_tables_equal(got, table, "embedding column")
    st = stats(server.data, ds)
    assert st["dim"] == 12
    assert "embedding" in st["columns"]


def test_server_assigned_ids(server, ds):
    first = make_table(2500, d=8, with_ids=False, start_id=0)
    second = make_table(700, d=8, with_ids=False, start_id=2500)
    put_table(server.data, ds, first, batch_size=1000)
    put_table(server.data, ds, second, batch_size=300)
    got = scan(server.data, ds)
    assert got.schema.names == ["id"] + first.schema.names, "assigned id must be first column"
    assert got.schema.field("id").type == pa.uint64()
    n = first.num_rows + second.num_rows
    assert got["id"].to_numpy().tolist() == list(range(n))
    assert_tables_equal(got.drop_columns(["id"]), pa.concat_tables([first, second]),
                        "assigned-id dataset")
    schema = server.meta.get_schema(flight.FlightDescriptor.for_path(ds)).schema
    assert schema.names[0] == "id" and schema.field("id").type == pa.uint64()
    assert stats(server.meta, ds)["id_type"] == "uint64"


def test_assigned_ids_are_per_dataset(server, ds):
    other = ds + "_b"
    put_table(server.data, ds, make_table(50, with_ids=False))
    put_table(server.data, other, make_table(30, with_ids=False))
    put_table(server.data, ds, make_table(20, with_ids=False))
    assert scan(server.data, ds)["id"].to_pylist() == list(range(70))
    assert scan(server.data, other)["id"].to_pylist() == list(range(30))


def test_utf8_ids(server, ds):
    table = make_table(1200, d=8, id_type=pa.string())
    put_table(server.data, ds, table, batch_size=400)
    got = scan(server.data, ds)
    assert_tables_equal(got, table, "utf8 ids")
    assert stats(server.data, ds)["id_type"] == "utf8"
    one = scan(server.data, {"dataset": ds, "filters": [
        {"field": "id", "op": "=", "value": "key-77"}]})
    assert one["id"].to_pylist() == ["key-77"]


def test_uint64_ids_not_truncated(server, ds):
    ids = np.array([2**64 - 1, 2**63, 2**63 - 1, 0, 2**53 + 1], dtype=np.uint64)
    table = pa.table({"id": pa.array(ids, pa.uint64()),
                      "vector": vector_array(random_vectors(np.random.default_rng(1), 5, 4))})
    put_table(server.data, ds, table)
    got = scan(server.data, ds)
    assert_tables_equal(got, table, "uint64 ids")
    assert stats(server.data, ds)["id_type"] == "uint64"
    # Filter values beyond int64 / float64 precision keep their exact value.
    for op, value in ((">", 2**63 - 1), ("=", 2**64 - 1), ("<", 2**53 + 1), ("in", [2**63])):
        got = scan(server.data, {"dataset": ds, "filters": [
            {"field": "id", "op": op, "value": value}]})
        want = {">": lambda i: i > value, "=": lambda i: i == value,
                "<": lambda i: i < value, "in": lambda i: i in value}[op]
        assert got["id"].to_pylist() == [i for i in ids.tolist() if want(i)], (op, value)


def test_put_order_preserved_across_puts(server, ds):
    tables = [make_table(n, d=8, start_id=s) for n, s in [(300, 5000), (10, 0), (777, 100)]]
    for t in tables:
        put_table(server.data, ds, t, batch_size=128)
    got = scan(server.data, ds)
    assert_tables_equal(got, pa.concat_tables(tables), "three puts")


def test_column_order_of_later_put_may_differ(server, ds):
    first = make_table(100, d=8)
    put_table(server.data, ds, first)
    second = make_table(50, d=8, start_id=100)
    reordered = second.select(list(reversed(second.schema.names)))
    put_table(server.data, ds, reordered)
    got = scan(server.data, ds)
    assert got.schema.names == first.schema.names, "stored column order must win"
    assert_tables_equal(got, pa.concat_tables([first, second]), "reordered put")


def test_schema_evolution_appends_nullable_column(server, ds):
    old = make_table(400, d=8)
    put_table(server.data, ds, old, batch_size=150)
    new = make_table(250, d=8, start_id=400)
    new = new.append_column(pa.field("lang", pa.string(), nullable=True),
                            pa.array([["en", "de", None][i % 3] for i in range(250)]))
    put_table(server.data, ds, new, batch_size=100)
    got = scan(server.data, ds)
    assert got.schema.names == old.schema.names + ["lang"]
    assert got.schema.field("lang").type == pa.string()
    padded = old.append_column(pa.field("lang", pa.string()), pa.nulls(400, pa.string()))
    assert_tables_equal(got, pa.concat_tables([padded, new]), "evolved dataset")
    assert "lang" in stats(server.data, ds)["columns"]
    schema = server.meta.get_schema(flight.FlightDescriptor.for_path(ds)).schema
    assert schema.names == got.schema.names
    # The new column is filterable; the old rows read back null and are dropped by "=".
    de = scan(server.data, {"dataset": ds, "filters": [
        {"field": "lang", "op": "=", "value": "de"}]})
    want = pa.concat_tables([padded, new])
    assert_tables_equal(de, want.filter(pc.equal(want["lang"], "de")), "filter on new column")
    nulls = scan(server.data, {"dataset": ds, "filters": [
        {"field": "lang", "op": "=", "value": None}]})
    assert nulls.num_rows == want.filter(pc.is_null(want["lang"])).num_rows


def test_ack_metadata_per_batch(server, ds):
    sizes = [1, 250, 3, 1000, 42]
    table = make_table(sum(sizes), d=8)
    batches, off = [], 0
    for s in sizes:
        batches.append(table.slice(off, s).combine_chunks().to_batches()[0])
        off += s
    acks1 = put_table(server.data, ds, table, batches=batches)
    assert [a["status"] for a in acks1] == ["acked"] * len(sizes)
    assert [a["rows"] for a in acks1] == sizes
    seqs1 = [a["seq"] for a in acks1]
    assert all(isinstance(s, int) for s in seqs1)
    assert all(a < b for a, b in zip(seqs1, seqs1[1:])), seqs1
    acks2 = put_table(server.data, ds, make_table(20, d=8, start_id=10_000), batch_size=7)
    assert [a["rows"] for a in acks2] == [7, 7, 6]
    seqs2 = [a["seq"] for a in acks2]
    assert all(a < b for a, b in zip(seqs2, seqs2[1:])), seqs2
    assert seqs2[0] > seqs1[-1], "seq must keep increasing across puts"


def test_schema_only_put_creates_empty_dataset(server, ds):
    table = make_table(10, d=8)
    acks = put_table(server.data, ds, table.schema.empty_table())
    assert acks == []
    info = server.meta.get_flight_info(flight.FlightDescriptor.for_path(ds))
    assert info.total_records == 0
    assert info.schema.equals(table.schema)
    empty = scan(server.data, ds)
    assert empty.num_rows == 0
    assert empty.schema.equals(table.schema)
    st = stats(server.meta, ds)
    assert st["rows"] == 0 and st["dim"] == 8
    put_table(server.data, ds, table)
    assert_tables_equal(scan(server.data, ds), table, "after schema-only put")


def test_put_and_scan_on_either_port(server, ds):
    a = make_table(100, d=8)
    b = make_table(60, d=8, start_id=100)
    put_table(server.data, ds, a)
    put_table(server.meta, ds, b)
    want = pa.concat_tables([a, b])
    assert_tables_equal(scan(server.meta, ds), want, "scan on meta port")
    assert_tables_equal(scan(server.data, ds), want, "scan on data port")


def test_ticket_forms(server, ds):
    table = make_table(300, d=8)
    put_table(server.data, ds, table)
    for ticket in (ds, {"dataset": ds}, {"name": ds}, json.dumps({"name": ds}).encode()):
        assert_tables_equal(scan(server.data, ticket), table, f"ticket {ticket!r}")


def test_limit(server, ds):
    table = make_table(1000, d=8)
    put_table(server.data, ds, table, batch_size=64)
    for limit in (0, 1, 63, 64, 65, 999, 1000, 5000):
        got = scan(server.data, {"dataset": ds, "limit": limit})
        assert_tables_equal(got, table.slice(0, limit), f"limit {limit}")


def test_columns_projection(server, ds):
    table = make_table(500, d=8)
    put_table(server.data, ds, table, batch_size=200)
    for cols in (["tag", "id"], ["vector"], ["category", "vector", "tag", "id"], ["id"]):
        got = scan(server.data, {"dataset": ds, "columns": cols})
        assert_tables_equal(got, table.select(cols), f"columns {cols}")
    got = scan(server.data, {"dataset": ds, "columns": ["tag"], "limit": 7})
    assert_tables_equal(got, table.select(["tag"]).slice(0, 7), "columns + limit")


def test_int64_extreme_ids_filter(server, ds):
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    ids = np.array([lo, lo + 1, -1, 0, 2**53 + 1, hi - 1, hi], dtype=np.int64)
    table = pa.table({"id": pa.array(ids),
                      "vector": vector_array(random_vectors(np.random.default_rng(4), 7, 4))})
    put_table(server.data, ds, table)
    for op, value in (("=", int(lo)), (">=", int(hi - 1)), ("<", 0), ("!=", 2**53 + 1),
                      ("not in", [int(lo), int(hi)])):
        got = scan(server.data, {"dataset": ds, "filters": [
            {"field": "id", "op": op, "value": value}]})
        want = {"=": lambda i: i == value, ">=": lambda i: i >= value, "<": lambda i: i < value,
                "!=": lambda i: i != value, "not in": lambda i: i not in value}[op]
        assert got["id"].to_pylist() == [i for i in ids.tolist() if want(i)], (op, value)
