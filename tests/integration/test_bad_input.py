"""Bad input: each case gets the Flight status that fits, as the specific pyarrow exception
class, with a message naming the problem; afterwards the server still serves and the rows
stored before are unchanged.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, assert_tables_equal,
                           make_table, put_table, random_vectors, scan, unique_name, vector_array)


# "id" as a word: a bare "id" would also match inside "invalid".
ID_WORD = r"(?<![A-Za-z_])id(?![A-Za-z_])"


def _victim_table() -> pa.Table:
    rng = np.random.default_rng(5)
    n = 1234
    return pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "vector": vector_array(random_vectors(rng, n, 8)),
        "price_cents": pa.array(rng.integers(0, 10_000, n), pa.int32()),
        "label": pa.array([f"label{i % 13}" for i in range(n)]),
        "seen_at": pa.array(1_700_000_000_000 + np.arange(n), pa.timestamp("ms")),
    })


VICTIM = _victim_table()


@pytest.fixture(scope="module")
def victim(server):
    name = unique_name("victim")
    put_table(server.data, name, VICTIM, batch_size=500)
    return name


@pytest.fixture(autouse=True)
def still_serving(server, victim):
    """After each case: both ports answer and the victim's rows are unchanged."""
    yield
    assert server.alive(), "server died"
    for client in (server.data, server.meta):
        assert {"stats", "delete-dataset"} <= {a.type for a in client.list_actions()}
    assert_tables_equal(scan(server.data, victim), VICTIM, "victim dataset after bad input")
    assert_tables_equal(scan(server.meta, {"dataset": victim}), VICTIM, "victim via meta")


def _part(table: pa.Table, n=10, start=0) -> pa.Table:
    return table.slice(start, n)


def _put_batch(client, name, columns: dict):
    table = pa.table(columns)
    return put_table(client, name, table)


def _not_created(server, name):
    with pytest.raises(NOT_FOUND):
        server.meta.get_flight_info(flight.FlightDescriptor.for_path(name))


# -- tickets -------------------------------------------------------------------------------

@pytest.mark.parametrize("ticket", [b"\xff\xfe\x00\x01garbage", b"{not json", b"bad name!",
                                    b"a//b", b"x" * 129, b"[1, 2", b"   "],
                         ids=["binary", "broken-json", "space-bang", "slash", "too-long",
                              "broken-array", "blanks"])
def test_garbage_ticket(server, ticket):
    with pytest.raises(INVALID_ARGUMENT, match="ticket|name"):
        scan(server.data, ticket)


def test_empty_ticket(server):
    with pytest.raises(INVALID_ARGUMENT, match="ticket"):
        scan(server.data, b"")


def test_unknown_dataset_bare_ticket(server):
    with pytest.raises(NOT_FOUND, match="no_such_ds_1"):
        scan(server.data, "no_such_ds_1")


@pytest.mark.parametrize("key", ["dataset", "name"])
def test_unknown_dataset_json_ticket(server, key):
    with pytest.raises(NOT_FOUND, match="no_such_ds_2"):
        scan(server.meta, {key: "no_such_ds_2"})


@pytest.mark.parametrize("name", ["bad//name", "with space", "", "x" * 129, "ü"])
def test_invalid_dataset_name_in_ticket(server, name):
    with pytest.raises(INVALID_ARGUMENT):
        scan(server.data, {"dataset": name})


@pytest.mark.parametrize("ticket", [{"limit": 5}, {"dataset": 5}, {"dataset": None},
                                    {"name": ["a"]}])
def test_ticket_without_dataset_name(server, ticket):
    with pytest.raises(INVALID_ARGUMENT, match="dataset|name"):
        scan(server.data, ticket)


def test_ticket_not_an_object(server):
    with pytest.raises(INVALID_ARGUMENT):
        scan(server.data, b"[1, 2, 3]")


def test_unknown_ticket_key(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="bogus_key"):
        scan(server.data, {"dataset": victim, "bogus_key": 1})


@pytest.mark.parametrize("limit", [-1, -1000, "ten", [3]])
def test_bad_limit(server, victim, limit):
    with pytest.raises(INVALID_ARGUMENT, match="limit"):
        scan(server.data, {"dataset": victim, "limit": limit})


def test_columns_not_a_list(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="columns"):
        scan(server.data, {"dataset": victim, "columns": "id"})


def test_unknown_column_in_columns(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="no_such_column_q"):
        scan(server.data, {"dataset": victim, "columns": ["id", "no_such_column_q"]})


# -- filters -------------------------------------------------------------------------------

def _filter(server, victim, *filters):
    return scan(server.data, {"dataset": victim, "filters": list(filters)})


def test_filter_on_missing_column(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="not_a_column_z"):
        _filter(server, victim, {"field": "not_a_column_z", "op": "=", "value": 1})


def test_filter_on_missing_column_nested(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="not_a_column_w"):
        _filter(server, victim, {"logic": "or", "filters": [
            {"field": "price_cents", "op": ">", "value": 1},
            {"field": "not_a_column_w", "op": "=", "value": 1}]})


@pytest.mark.parametrize("field,op,value", [
    ("price_cents", ">", "abc"),
    ("price_cents", "=", "12x"),
    ("price_cents", "in", [1, "two"]),
    ("seen_at", "<", "not-a-date"),
    ("id", "=", "seven"),
])
def test_filter_value_does_not_convert(server, victim, field, op, value):
    with pytest.raises(INVALID_ARGUMENT):
        _filter(server, victim, {"field": field, "op": op, "value": value})


def test_in_requires_array(server, victim):
    with pytest.raises(INVALID_ARGUMENT):
        _filter(server, victim, {"field": "price_cents", "op": "in", "value": 5})


def test_unknown_operator(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="~~"):
        _filter(server, victim, {"field": "price_cents", "op": "~~", "value": 5})


def test_unknown_logic(server, victim):
    with pytest.raises(INVALID_ARGUMENT):
        _filter(server, victim, {"logic": "xor", "filters": [
            {"field": "price_cents", "op": ">", "value": 1}]})


@pytest.mark.parametrize("f", [{"op": "=", "value": 1}, {"field": "price_cents", "value": 1},
                               "price_cents = 1", 42],
                         ids=["no-field", "no-op", "string", "number"])
def test_malformed_filter(server, victim, f):
    with pytest.raises(INVALID_ARGUMENT):
        _filter(server, victim, f)


def test_filters_not_a_list(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match="filters"):
        scan(server.data, {"dataset": victim, "filters": "price_cents > 1"})


# -- puts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bad//name", "with space", "x" * 129, "semi;colon", "ü", ""])
def test_invalid_dataset_name_put(server, name):
    with pytest.raises(INVALID_ARGUMENT):
        put_table(server.data, name, make_table(5))
    if name:
        assert name not in {p.decode() for i in server.meta.list_flights()
                            for p in i.descriptor.path}


def test_longest_valid_name(server):
    name = unique_name("n") + "_" + "a.-_Z9" * 30
    name = name[:128]
    t = make_table(5)
    put_table(server.data, name, t)
    assert_tables_equal(scan(server.data, name), t, "128-char name")


@pytest.mark.parametrize("kind", ["cmd", "empty-path"])
def test_descriptor_without_path(server, victim, kind):
    desc = flight.FlightDescriptor.for_command(victim.encode()) if kind == "cmd" \
        else flight.FlightDescriptor.for_path()
    with pytest.raises(INVALID_ARGUMENT, match="descriptor|path"):
        put_table(server.data, None, _part(VICTIM), descriptor=desc)


def test_wrong_vector_width(server, victim):
    rng = np.random.default_rng(1)
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    cols["vector"] = vector_array(random_vectors(rng, 10, 9))
    with pytest.raises(INVALID_ARGUMENT, match="vector"):
        _put_batch(server.data, victim, cols)


@pytest.mark.parametrize("value_type", [pa.float16(), pa.int8(), pa.uint8()])
def test_changed_vector_type(server, victim, value_type):
    rng = np.random.default_rng(2)
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    cols["vector"] = vector_array(random_vectors(rng, 10, 8, value_type), value_type)
    with pytest.raises(INVALID_ARGUMENT, match="vector"):
        _put_batch(server.data, victim, cols)


def test_variable_list_vector_into_existing(server, victim):
    """Variable-size lists of the dataset's width are converted (test_put_conversions.py); a
    list of another width is refused naming the column and the width."""
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    cols["vector"] = pa.array([[0.5] * 8] * 9 + [[0.5] * 7], pa.list_(pa.float32()))
    with pytest.raises(INVALID_ARGUMENT, match="vector column 'vector'.*width 8"):
        _put_batch(server.data, victim, cols)


@pytest.mark.parametrize("vec", [
    pa.array([[1.0] * 4] * 3, pa.list_(pa.float32())),
    pa.array([[1] * 4] * 3, pa.list_(pa.int32(), 4)),
    pa.array([["a"] * 4] * 3, pa.list_(pa.string(), 4)),
    pa.array([1.0, 2.0, 3.0], pa.float32()),
], ids=["variable-list", "fsl-int32", "fsl-string", "scalar"])
def test_bad_vector_type_new_dataset(server, ds, vec):
    with pytest.raises(INVALID_ARGUMENT, match="vector"):
        _put_batch(server.data, ds, {"id": pa.array([1, 2, 3], pa.int64()), "vector": vec})
    _not_created(server, ds)


@pytest.mark.parametrize("id_type", [pa.float64(), pa.int32(), pa.binary(), pa.bool_()])
def test_bad_id_type(server, ds, id_type):
    ids = pa.array([1, 0, 1], pa.int64()).cast(id_type) if id_type != pa.binary() \
        else pa.array([b"a", b"b", b"c"])
    with pytest.raises(INVALID_ARGUMENT, match=ID_WORD):
        _put_batch(server.data, ds, {"id": ids,
                                     "vector": vector_array(np.ones((3, 4), np.float32))})
    _not_created(server, ds)


def test_changed_column_type(server, victim):
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    cols["price_cents"] = cols["price_cents"].cast(pa.string())
    with pytest.raises(INVALID_ARGUMENT, match="price_cents"):
        _put_batch(server.data, victim, cols)


def test_changed_id_type(server, victim):
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    cols["id"] = cols["id"].cast(pa.uint64())
    with pytest.raises(INVALID_ARGUMENT, match=ID_WORD):
        _put_batch(server.data, victim, cols)


@pytest.mark.parametrize("missing", ["label", "seen_at", "id", "vector"])
def test_missing_column(server, victim, missing):
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names if c != missing}
    with pytest.raises(INVALID_ARGUMENT, match=ID_WORD if missing == "id" else missing):
        _put_batch(server.data, victim, cols)


def test_null_vector(server, victim):
    cols = {c: _part(VICTIM)[c] for c in VICTIM.schema.names}
    vec = cols["vector"].combine_chunks()
    mask = pa.array([i == 3 for i in range(10)])
    cols["vector"] = pa.FixedSizeListArray.from_arrays(vec.flatten(), 8, mask=mask)
    assert cols["vector"].null_count == 1
    with pytest.raises(INVALID_ARGUMENT, match="vector"):
        _put_batch(server.data, victim, cols)


def test_zero_row_batch(server, victim):
    empty = VICTIM.to_batches()[0].slice(0, 0)
    assert empty.num_rows == 0
    with pytest.raises(INVALID_ARGUMENT):
        put_table(server.data, victim, VICTIM, batches=[empty])


def test_bad_batch_mid_stream_keeps_earlier_batches(server, ds):
    t = make_table(400, d=8)
    good = t.to_batches(max_chunksize=100)
    bad_vec = pa.FixedSizeListArray.from_arrays(
        good[2].column("vector").flatten(), 8, mask=pa.array([i == 50 for i in range(100)]))
    bad = good[2].set_column(1, "vector", bad_vec)
    with pytest.raises(INVALID_ARGUMENT):
        put_table(server.data, ds, t, batches=[good[0], good[1], bad, good[3]])
    got = scan(server.data, ds)
    assert_tables_equal(got, t.slice(0, 200), "rows of the batches before the bad one")


def test_zero_row_batch_mid_stream(server, ds):
    t = make_table(300, d=8)
    b = t.to_batches(max_chunksize=100)
    with pytest.raises(INVALID_ARGUMENT):
        put_table(server.data, ds, t, batches=[b[0], b[0].slice(0, 0), b[1]])
    assert_tables_equal(scan(server.data, ds), t.slice(0, 100), "rows before the 0-row batch")


# -- actions -------------------------------------------------------------------------------

def test_action_body_not_json(server):
    with pytest.raises(INVALID_ARGUMENT):
        list(server.data.do_action(flight.Action("stats", b"{oops")))


def test_delete_dataset_without_name(server):
    with pytest.raises(INVALID_ARGUMENT, match="dataset"):
        list(server.data.do_action(flight.Action("delete-dataset", json.dumps({}).encode())))


def test_delete_dataset_invalid_name(server):
    with pytest.raises(INVALID_ARGUMENT):
        list(server.data.do_action(flight.Action(
            "delete-dataset", json.dumps({"dataset": "bad//name"}).encode())))


def test_unknown_action_type(server):
    with pytest.raises((INVALID_ARGUMENT, pa.ArrowNotImplementedError), match="frobnicate"):
        list(server.meta.do_action(flight.Action("frobnicate", b"{}")))


def test_connection_usable_after_errors(server, victim):
    client = server.connect()
    for _ in range(20):
        with pytest.raises(INVALID_ARGUMENT):
            scan(client, {"dataset": victim, "bogus": True})
        with pytest.raises(NOT_FOUND):
            scan(client, "missing_dataset_zz")
    assert_tables_equal(scan(client, victim), VICTIM, "same client after 40 errors")


# -- values: UTF-8 and finite vectors (refused whole, naming the column and row) -------------

def _break_utf8(strings: pa.Array, row: int) -> pa.Array:
    """`strings` (utf8 or large_utf8, no offset) with the first byte of value `row` replaced by
    0xFF, which no UTF-8 text contains; pyarrow does not check UTF-8 when built from buffers."""
    validity, offsets, data = strings.buffers()
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    start = int(np.frombuffer(offsets, offset_type)[row])
    raw = bytearray(data.to_pybytes())
    raw[start] = 0xFF
    return pa.Array.from_buffers(strings.type, len(strings), [validity, offsets, pa.py_buffer(raw)],
                                 null_count=strings.null_count)


def test_invalid_utf8_in_a_stored_column_is_refused(server, victim):
    cols = {c: _part(VICTIM)[c].combine_chunks() for c in VICTIM.schema.names}
    cols["label"] = _break_utf8(cols["label"], 3)
    with pytest.raises(INVALID_ARGUMENT, match=r"column 'label' row 3: value is not valid UTF-8"):
        _put_batch(server.data, victim, cols)


@pytest.mark.parametrize("kind", ["utf8-id", "large_utf8", "dictionary"])
def test_invalid_utf8_creates_nothing(server, ds, kind):
    n = 8
    cols = {"id": pa.array([f"key-{i}" for i in range(n)]),
            "vector": vector_array(np.ones((n, 4), np.float32))}
    if kind == "utf8-id":
        cols["id"] = _break_utf8(cols["id"], 5)
        expected = r"column 'id' row 5"
    elif kind == "large_utf8":
        cols["body"] = _break_utf8(pa.array(["some words"] * n, pa.large_string()), 6)
        expected = r"column 'body' row 6"
    else:
        entries = _break_utf8(pa.array(["news", "blog", "paper"]), 1)
        cols["tag"] = pa.DictionaryArray.from_arrays(pa.array([0, 0, 2, 1, 0, 1, 2, 0]), entries)
        expected = r"column 'tag' row 3: value \(dictionary entry 1\)"
    with pytest.raises(INVALID_ARGUMENT, match=expected):
        put_table(server.data, ds, pa.table(cols))
    _not_created(server, ds)


def _vectors_with(value_type, bad_value, n=10, d=4, row=7, element=2):
    values = np.arange(n * d, dtype=np.float64).reshape(n, d) / 10
    values[row, element] = bad_value
    return vector_array(values.astype(value_type.to_pandas_dtype()), value_type)


NON_FINITE = [(pa.float32(), np.nan, "NaN"), (pa.float32(), np.inf, r"\+Inf"),
              (pa.float32(), -np.inf, "-Inf"), (pa.float16(), np.nan, "NaN"),
              (pa.float16(), np.inf, r"\+Inf"), (pa.float64(), np.nan, "NaN"),
              (pa.float64(), 1e300, "1e\\+300, beyond the float32 range")]


@pytest.mark.parametrize("value_type,bad,shown", NON_FINITE,
                         ids=["f32-nan", "f32-inf", "f32-neg-inf", "f16-nan", "f16-inf", "f64-nan",
                              "f64-beyond-f32"])
def test_non_finite_vector_creates_nothing(server, ds, value_type, bad, shown):
    table = pa.table({"id": pa.array(range(10), pa.int64()),
                      "vector": _vectors_with(value_type, bad)})
    with pytest.raises(INVALID_ARGUMENT,
                       match=rf"vector column 'vector' row 7: element 2 is {shown}"):
        put_table(server.data, ds, table)
    _not_created(server, ds)


def test_non_finite_vector_mid_stream_stores_only_the_earlier_batches(server, ds):
    t = make_table(300, d=8)
    good = t.to_batches(max_chunksize=100)
    values = good[1].column("vector").flatten().to_numpy().copy()
    values[45 * 8 + 6] = np.nan  # row 45 of the second batch
    bad = good[1].set_column(1, "vector", pa.FixedSizeListArray.from_arrays(pa.array(values), 8))
    with pytest.raises(INVALID_ARGUMENT, match=r"batch 1 rejected: .*row 45: element 6 is NaN"):
        put_table(server.data, ds, t, batches=[good[0], bad, good[2]])
    assert_tables_equal(scan(server.data, ds), t.slice(0, 100), "rows of the batch before")
    # Every stored row can be found: none of them poisons the distances.
    query = {"search": {"dataset": ds, "vector": [0.0] * 8, "k": 100}}
    assert scan(server.data, query).num_rows == 100


# -- search results carry each column once ---------------------------------------------------

def test_search_columns_naming_id_return_it_once(server, victim):
    keys = {"dataset": victim, "vector": VICTIM["vector"][3].values.to_pylist(), "k": 5,
            "columns": ["id", "label", "id", "label"]}
    want = ["id", "score", "distance", "label"]
    got = scan(server.data, {"search": keys})
    assert got.schema.names == want
    assert got["id"][0].as_py() == 3
    [stream] = server.data.do_action(flight.Action("VectorSearch", json.dumps(keys).encode()))
    assert pa.ipc.open_stream(stream.body).read_all().schema.names == want
    [hits] = action(server.data, "HybridSearch", {**keys, "text_query": "label3"})
    assert hits and all(list(hit) == ["distance", "id", "label", "score"] for hit in hits), hits
    with_vectors = scan(server.data, {"search": {**keys, "columns": ["vector", "id"],
                                                 "include_vectors": True}})
    assert with_vectors.schema.names == ["id", "score", "distance", "vector"]


# -- the size of 'in' lists ------------------------------------------------------------------

def test_in_filter_of_a_million_values(server, victim):
    evens = list(range(0, 2_000_000, 2))
    got = _filter(server, victim, {"field": "id", "op": "in", "value": evens})
    assert sorted(got["id"].to_pylist()) == list(range(0, len(VICTIM), 2))
    got = _filter(server, victim, {"field": "label", "op": "not in",
                                   "value": [f"label{i}" for i in range(12)] * 50_000})
    assert set(got["label"].to_pylist()) == {"label12"}


def test_in_filter_beyond_the_limit_is_refused(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match=r"filters hold 1000001 values .* at most 1000000"):
        _filter(server, victim, {"field": "id", "op": "in", "value": list(range(1_000_000))},
                {"field": "price_cents", "op": "not in", "value": [5]})


def test_in_filter_value_out_of_range_is_named(server, victim):
    with pytest.raises(INVALID_ARGUMENT, match=r"price_cents.*3000000000"):
        _filter(server, victim, {"field": "price_cents", "op": "in",
                                 "value": [1, 2, 3_000_000_000]})
