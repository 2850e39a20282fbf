"""ListFlights, GetFlightInfo, GetSchema, ListActions and the stats / delete-dataset actions."""

from __future__ import annotations

import json
import uuid

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, assert_tables_equal, make_table,
                           put_table, scan, stats)


def _path(info):
    return [p.decode() if isinstance(p, bytes) else p for p in info.descriptor.path]


def _list(client, criteria=None):
    raw = b"" if criteria is None else json.dumps(criteria).encode()
    return {_path(i)[0]: i for i in client.list_flights(raw)}


@pytest.fixture(scope="module")
def catalog(server):
    """Three datasets sharing a unique token in their names: small (d=8), big (d=16),
    strs (utf8 ids, d=4)."""
    tok = "cat" + uuid.uuid4().hex[:10]
    tables = {
        f"{tok}_small": make_table(50, d=8),
        f"{tok}_big": make_table(2000, d=16),
        f"{tok}.strs": make_table(300, d=4, id_type=pa.string()),
    }
    for name, t in tables.items():
        put_table(server.data, name, t, batch_size=500)
    return tok, tables


def _check_info(client, info, name, table):
    assert info.descriptor.descriptor_type == flight.DescriptorType.PATH
    assert _path(info) == [name]
    assert info.schema.equals(table.schema), f"{info.schema} != {table.schema}"
    assert info.total_records == table.num_rows
    assert info.total_bytes > 0
    assert len(info.endpoints) == 1
    got = client.do_get(info.endpoints[0].ticket).read_all()
    assert_tables_equal(got, table, f"endpoint ticket of {name}")


@pytest.mark.parametrize("port", ["data", "meta"])
def test_list_flights_without_criteria(server, catalog, port):
    client = getattr(server, port)
    tok, tables = catalog
    listed = _list(client)
    assert set(tables) <= set(listed)
    for name, t in tables.items():
        _check_info(client, listed[name], name, t)
    # Empty JSON criteria means the same.
    assert set(_list(client, {})) == set(listed)


def test_list_flights_by_name(server, catalog):
    tok, tables = catalog
    assert set(_list(server.meta, {"name": tok})) == set(tables)
    assert set(_list(server.meta, {"name": tok + "_"})) == {f"{tok}_small", f"{tok}_big"}
    assert set(_list(server.meta, {"name": "strs"})) >= {f"{tok}.strs"}
    assert _list(server.meta, {"name": tok + "-no-such"}) == {}


@pytest.mark.parametrize("field,op", [("rows", ">"), ("rows", "<="), ("dim", "="),
                                      ("dim", ">="), ("bytes", ">"), ("bytes", "<"),
                                      ("name", "prefix"), ("rows", "in")])
def test_list_flights_filters(server, catalog, field, op):
    tok, tables = catalog
    everything = _list(server.meta, {"name": tok})
    dims = {n: t.schema.field("vector").type.list_size for n, t in tables.items()}
    props = {n: {"rows": i.total_records, "bytes": i.total_bytes, "dim": dims[n], "name": n}
             for n, i in everything.items()}
    values = {"rows": 300, "dim": 8, "bytes": props[f"{tok}_small"]["bytes"],
              "name": f"{tok}_b"}
    value = [50, 2000] if op == "in" else values[field]
    cmp = {">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
           ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
           "prefix": lambda a, b: a.startswith(b), "in": lambda a, b: a in b}[op]
    want = {n for n, p in props.items() if cmp(p[field], value)}
    got = _list(server.meta, {"name": tok, "filters": [{"field": field, "op": op,
                                                        "value": value}]})
    assert set(got) == want


def test_list_flights_filter_on_unknown_field(server, catalog):
    with pytest.raises(INVALID_ARGUMENT, match="nosuchfield"):
        list(server.meta.list_flights(json.dumps(
            {"filters": [{"field": "nosuchfield", "op": ">", "value": 1}]}).encode()))


@pytest.mark.parametrize("port", ["data", "meta"])
def test_get_flight_info(server, catalog, port):
    client = getattr(server, port)
    tok, tables = catalog
    for name, t in tables.items():
        info = client.get_flight_info(flight.FlightDescriptor.for_path(name))
        _check_info(client, info, name, t)


def test_get_flight_info_matches_list(server, catalog):
    tok, tables = catalog
    listed = _list(server.meta, {"name": tok})
    for name in tables:
        info = server.meta.get_flight_info(flight.FlightDescriptor.for_path(name))
        assert info.total_records == listed[name].total_records
        assert info.total_bytes == listed[name].total_bytes
        assert info.schema.equals(listed[name].schema)


def test_get_flight_info_tracks_puts(server, ds):
    t1 = make_table(100, d=8)
    put_table(server.data, ds, t1)
    info1 = server.meta.get_flight_info(flight.FlightDescriptor.for_path(ds))
    t2 = make_table(900, d=8, start_id=100)
    put_table(server.data, ds, t2)
    info2 = server.meta.get_flight_info(flight.FlightDescriptor.for_path(ds))
    assert (info1.total_records, info2.total_records) == (100, 1000)
    assert info2.total_bytes > info1.total_bytes


def test_get_flight_info_unknown(server):
    with pytest.raises(NOT_FOUND, match="no_such_dataset_x1"):
        server.meta.get_flight_info(flight.FlightDescriptor.for_path("no_such_dataset_x1"))


@pytest.mark.parametrize("port", ["data", "meta"])
def test_get_schema(server, catalog, port):
    client = getattr(server, port)
    tok, tables = catalog
    for name, t in tables.items():
        schema = client.get_schema(flight.FlightDescriptor.for_path(name)).schema
        assert schema.equals(t.schema)


def test_get_schema_unknown(server):
    with pytest.raises(NOT_FOUND, match="no_such_dataset_x2"):
        server.meta.get_schema(flight.FlightDescriptor.for_path("no_such_dataset_x2"))


@pytest.mark.parametrize("port", ["data", "meta"])
def test_list_actions(server, port):
    types = {a.type for a in getattr(server, port).list_actions()}
    assert {"stats", "delete-dataset"} <= types


def test_stats_dataset(server, catalog):
    tok, tables = catalog
    for name, t in tables.items():
        st = stats(server.meta, name)
        assert st["dataset"] == name
        assert st["rows"] == t.num_rows
        assert st["bytes"] > 0
        assert st["dim"] == t.schema.field("vector").type.list_size
        assert st["vector_type"] == "float32"
        assert st["id_type"] == ("utf8" if t.schema.field("id").type == pa.string()
                                 else "int64")
        assert st["columns"] == t.schema.names


def test_stats_bytes_grow_with_rows(server, catalog):
    tok, _ = catalog
    small, big = stats(server.meta, f"{tok}_small"), stats(server.meta, f"{tok}_big")
    # big holds 40x the rows with twice the dimension
    assert big["bytes"] > 10 * small["bytes"]


@pytest.mark.parametrize("body", [None, {}, "{}"])
def test_stats_all(server, catalog, body):
    tok, tables = catalog
    results = action(server.meta, "stats", body)
    assert len(results) == 1
    summary = results[0]
    by_name = {d["dataset"]: d for d in summary["datasets"]}
    assert set(tables) <= set(by_name)
    for name, t in tables.items():
        assert by_name[name]["rows"] == t.num_rows
        assert by_name[name]["columns"] == t.schema.names
    assert summary["total_rows"] == sum(d["rows"] for d in summary["datasets"])
    assert summary["total_bytes"] == sum(d["bytes"] for d in summary["datasets"])


def test_stats_unknown_dataset(server):
    with pytest.raises(NOT_FOUND, match="no_such_dataset_x3"):
        action(server.meta, "stats", {"dataset": "no_such_dataset_x3"})


@pytest.mark.parametrize("port", ["data", "meta"])
def test_delete_dataset(server, ds, port):
    client = getattr(server, port)
    keep = ds + "_keep"
    t = make_table(500, d=8)
    put_table(server.data, ds, t)
    put_table(server.data, keep, t)
    assert action(client, "delete-dataset", {"dataset": ds}) == [{"deleted": True}]
    with pytest.raises(NOT_FOUND):
        scan(server.data, ds)
    with pytest.raises(NOT_FOUND):
        server.meta.get_flight_info(flight.FlightDescriptor.for_path(ds))
    with pytest.raises(NOT_FOUND):
        server.meta.get_schema(flight.FlightDescriptor.for_path(ds))
    assert ds not in _list(server.meta)
    assert ds not in {d["dataset"] for d in action(server.meta, "stats", {})[0]["datasets"]}
    with pytest.raises(NOT_FOUND, match=ds):
        action(client, "delete-dataset", {"dataset": ds})
    # The other dataset is untouched.
    assert_tables_equal(scan(server.data, keep), t, "dataset next to the deleted one")


def test_recreate_after_delete(server, ds):
    put_table(server.data, ds, make_table(300, d=8))
    action(server.data, "delete-dataset", {"dataset": ds})
    # The name is free again, even for a different schema.
    t = make_table(40, d=32, id_type=pa.string(), start_id=7)
    put_table(server.data, ds, t)
    assert_tables_equal(scan(server.data, ds), t, "re-created dataset")
    assert stats(server.meta, ds)["dim"] == 32


def test_delete_unknown_dataset(server):
    with pytest.raises(NOT_FOUND, match="no_such_dataset_x4"):
        action(server.data, "delete-dataset", {"dataset": "no_such_dataset_x4"})


def test_unknown_action(server):
    with pytest.raises((INVALID_ARGUMENT, pa.ArrowNotImplementedError),
                       match="no-such-action"):
        action(server.data, "no-such-action", {})
