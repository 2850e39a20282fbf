"""Scan filters, limit and columns, each checked against the same filter evaluated with
pyarrow.compute on the rows that were put (SQL null semantics: a null comparison drops the row).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from arbalest_util import (assert_tables_equal, put_table, random_vectors, scan, unique_name,
                           vector_array)

N = 3000
BATCH = 700  # not a divisor of N: the last batch is short

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00 in ms


def _with_nulls(rng, values, type_, frac=0.1):
    mask = rng.random(len(values)) < frac
    return pa.array(values, type=type_, mask=mask)


def _build_table() -> pa.Table:
    rng = np.random.default_rng(99)
    words = ["apple", "apricot", "banana", "blueberry", "cherry", "Apple pie", "grape",
             "pineapple", "", "kiwi"]
    strs = [f"{words[i % len(words)]}-{i % 23}" if i % 5 else words[i % len(words)]
            for i in range(N)]
    ts_ms = EPOCH_MS + rng.integers(0, 10 * 24 * 3600 * 1000, N)
    return pa.table({
        "id": pa.array(np.arange(N) * 3 - 1000, pa.int64()),
        "vector": vector_array(random_vectors(rng, N, 8)),
        "i32": _with_nulls(rng, rng.integers(-50, 50, N), pa.int32()),
        "u16": pa.array(rng.integers(0, 2000, N), pa.uint16()),
        "i64": _with_nulls(rng, rng.integers(-(2**40), 2**40, N), pa.int64()),
        "f64": _with_nulls(rng, np.round(rng.standard_normal(N) * 10, 2), pa.float64()),
        "f32": pa.array(rng.standard_normal(N).astype(np.float32), pa.float32()),
        "s": _with_nulls(rng, strs, pa.string()),
        "b": _with_nulls(rng, rng.random(N) < 0.3, pa.bool_()),
        "ts": _with_nulls(rng, ts_ms, pa.timestamp("ms")),
        "tus": pa.array(ts_ms * 1000 + 7, pa.timestamp("us")),
    })


TABLE = _build_table()


@pytest.fixture(scope="module")
def fds(server):
    """The filter dataset: TABLE, put in batches of BATCH rows."""
    name = unique_name("filters")
    put_table(server.data, name, TABLE, batch_size=BATCH)
    return name


# -- the oracle ----------------------------------------------------------------------------

def _scalar(table, field, value):
    t = table.schema.field(field).type
    if pa.types.is_timestamp(t) and isinstance(value, str):
        return pa.scalar(dt.datetime.fromisoformat(value), type=t)
    if pa.types.is_timestamp(t):
        return pa.scalar(value, type=pa.int64()).cast(t)
    if isinstance(value, str) and not pa.types.is_string(t):
        return pa.scalar(value).cast(t)
    return pa.scalar(value, type=t)


OPS = {
    "=": pc.equal, "==": pc.equal, "eq": pc.equal,
    "!=": pc.not_equal, "<>": pc.not_equal, "neq": pc.not_equal,
    ">": pc.greater, "gt": pc.greater, ">=": pc.greater_equal, "ge": pc.greater_equal,
    "<": pc.less, "lt": pc.less, "<=": pc.less_equal, "le": pc.less_equal,
}


def expected_mask(table: pa.Table, f) -> pa.ChunkedArray:
    """Boolean mask with nulls where the SQL result is unknown."""
    if "logic" in f:
        masks = [expected_mask(table, g) for g in f["filters"]]
        if f["logic"] == "and":
            out = masks[0]
            for m in masks[1:]:
                out = pc.and_kleene(out, m)
            return out
        if f["logic"] == "or":
            out = masks[0]
            for m in masks[1:]:
                out = pc.or_kleene(out, m)
            return out
        assert f["logic"] == "not" and len(masks) == 1
        return pc.invert(masks[0])
    col = table[f["field"]]
    op = f.get("op", f.get("operator"))
    value = f["value"]
    if value is None and op in ("=", "==", "eq"):
        return pc.is_null(col)
    if value is None and op in ("!=", "<>", "neq"):
        return pc.is_valid(col)
    if op in OPS:
        return OPS[op](col, _scalar(table, f["field"], value))
    if op in ("in", "not in"):
        values = pa.array([_scalar(table, f["field"], v).as_py() for v in value],
                          type=col.type)
        hit = pc.is_in(col, value_set=values)
        if op == "not in":
            hit = pc.invert(hit)
        return pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), hit)
    if op == "contains":
        return pc.match_substring(col, value)
    if op == "prefix":
        return pc.starts_with(col, value)
    raise AssertionError(f"oracle has no op {op}")


def expected(table, filters, limit=None, columns=None):
    mask = None
    for f in filters:
        m = expected_mask(table, f)
        mask = m if mask is None else pc.and_kleene(mask, m)
    out = table.filter(mask, null_selection_behavior="drop") if mask is not None else table
    if limit is not None:
        out = out.slice(0, limit)
    if columns is not None:
        out = out.select(columns)
    return out


def check(server, name, filters, **kw):
    ticket = {"dataset": name, "filters": filters}
    if kw.get("limit") is not None:
        ticket["limit"] = kw["limit"]
    if kw.get("columns") is not None:
        ticket["columns"] = kw["columns"]
    got = scan(server.data, ticket)
    want = expected(TABLE, filters, kw.get("limit"), kw.get("columns"))
    assert_tables_equal(got, want, f"filters {filters}")
    return got


# -- cases ---------------------------------------------------------------------------------

# Values taken from the data so that comparisons hit rows on both sides.
_I32 = 7
_F64 = float(np.nanmedian(TABLE["f64"].to_numpy(zero_copy_only=False).astype(float)))
_S = "cherry-7"
_TS_ISO = "2024-01-05T12:30:00"
_TS_MS = EPOCH_MS + 4 * 24 * 3600 * 1000 + 3_600_000
_TUS = int(TABLE["tus"].cast(pa.int64())[N // 2].as_py())

SIMPLE_CASES = []
for _op in ["=", "==", "eq", "!=", "<>", "neq", ">", "gt", ">=", "ge", "<", "lt", "<=", "le"]:
    SIMPLE_CASES += [
        ("i32", _op, _I32),
        ("u16", _op, 1000),
        ("i64", _op, 0),
        ("id", _op, 500),
        ("f64", _op, _F64),
        ("f32", _op, 0),
        ("s", _op, _S),
        ("ts", _op, _TS_ISO),
        ("ts", _op, _TS_MS),
        ("tus", _op, _TUS),
    ]
for _op in ["=", "!="]:
    SIMPLE_CASES += [("b", _op, True), ("b", _op, False)]


@pytest.mark.parametrize("field,op,value", SIMPLE_CASES,
                         ids=[f"{f}{o}{v}" for f, o, v in SIMPLE_CASES])
def test_comparison(server, fds, field, op, value):
    got = check(server, fds, [{"field": field, "op": op, "value": value}])
    if op in ("=", "==", "eq") and field in ("id", "s", "i32"):
        assert got.num_rows > 0, "test data should have matches"


def test_operator_key_alias(server, fds):
    a = check(server, fds, [{"field": "i32", "operator": ">", "value": 10}])
    assert a.num_rows > 0


def test_numeric_value_given_as_string(server, fds):
    check(server, fds, [{"field": "i32", "op": ">=", "value": "12"}])
    check(server, fds, [{"field": "f64", "op": "<", "value": "1.5"}])


def test_float_column_with_integer_value(server, fds):
    check(server, fds, [{"field": "f64", "op": ">", "value": 3}])


@pytest.mark.parametrize("field,values", [
    ("i32", [1, 7, -3, 49, 1000]),
    ("u16", [0, 5, 1999]),
    ("id", [-1000, -997, 2, 8000, 5]),
    ("s", ["apple", "kiwi-3", "banana-2", "nope"]),
    ("f64", [_F64, 0.0]),
    ("ts", ["2024-01-05T12:30:00", _TS_ISO]),
])
@pytest.mark.parametrize("op", ["in", "not in"])
def test_in_not_in(server, fds, field, values, op):
    col = TABLE[field]
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())  # an integer in the column's unit
    present = next(v for v in col.to_pylist() if v is not None)
    values = values + [present]  # at least one value occurs
    got = check(server, fds, [{"field": field, "op": op, "value": values}])
    assert got.num_rows > 0


def test_in_with_empty_list(server, fds):
    check(server, fds, [{"field": "i32", "op": "in", "value": []}])
    check(server, fds, [{"field": "i32", "op": "not in", "value": []}])


@pytest.mark.parametrize("pattern", ["apple", "an", "-1", "Apple", "zzz", "pie-"])
def test_contains(server, fds, pattern):
    check(server, fds, [{"field": "s", "op": "contains", "value": pattern}])


@pytest.mark.parametrize("pattern", ["apple", "ap", "b", "Apple pie", "kiwi-1", "zzz"])
def test_prefix(server, fds, pattern):
    check(server, fds, [{"field": "s", "op": "prefix", "value": pattern}])


def test_contains_matches_rows(server, fds):
    got = check(server, fds, [{"field": "s", "op": "contains", "value": "apple"}])
    assert got.num_rows > 0
    # "apple" also occurs inside "pineapple": contains is not prefix.
    assert any(v.startswith("pine") for v in got["s"].to_pylist())


def test_filters_are_anded(server, fds):
    check(server, fds, [
        {"field": "i32", "op": ">", "value": -20},
        {"field": "f64", "op": "<", "value": 5},
        {"field": "s", "op": "prefix", "value": "b"},
    ])


def test_nested_logic(server, fds):
    check(server, fds, [{"logic": "or", "filters": [
        {"field": "i32", "op": "<", "value": -40},
        {"field": "s", "op": "=", "value": "kiwi"},
        {"logic": "and", "filters": [
            {"field": "b", "op": "=", "value": True},
            {"field": "f64", "op": ">", "value": 10},
        ]},
    ]}])


def test_logic_and(server, fds):
    check(server, fds, [{"logic": "and", "filters": [
        {"field": "u16", "op": ">=", "value": 500},
        {"field": "u16", "op": "<", "value": 700}]}])


def test_logic_not(server, fds):
    check(server, fds, [{"logic": "not", "filters": [
        {"field": "i32", "op": ">", "value": 0}]}])


def test_not_of_or_with_other_filter(server, fds):
    check(server, fds, [
        {"field": "ts", "op": ">=", "value": "2024-01-03T00:00:00"},
        {"logic": "not", "filters": [{"logic": "or", "filters": [
            {"field": "s", "op": "contains", "value": "an"},
            {"field": "i32", "op": "in", "value": [1, 2, 3, 4, 5]}]}]},
    ])


def test_or_with_null_comparisons(server, fds):
    # true OR unknown = true: rows with a null i32 but s matching are kept.
    got = check(server, fds, [{"logic": "or", "filters": [
        {"field": "i32", "op": ">", "value": 0},
        {"field": "s", "op": "prefix", "value": "kiwi"}]}])
    assert any(v is None for v in got["i32"].to_pylist())


def test_null_comparisons_drop_rows(server, fds):
    lt = check(server, fds, [{"field": "i32", "op": "<", "value": 0}])
    ge = check(server, fds, [{"field": "i32", "op": ">=", "value": 0}])
    nulls = TABLE["i32"].null_count
    assert nulls > 0
    assert lt.num_rows + ge.num_rows == N - nulls
    ne = check(server, fds, [{"field": "s", "op": "!=", "value": "apple"}])
    assert all(v is not None for v in ne["s"].to_pylist())


@pytest.mark.parametrize("field", ["i32", "i64", "f64", "s", "b", "ts"])
def test_null_value(server, fds, field):
    is_null = check(server, fds, [{"field": field, "op": "=", "value": None}])
    assert is_null.num_rows == TABLE[field].null_count > 0
    not_null = check(server, fds, [{"field": field, "op": "!=", "value": None}])
    assert not_null.num_rows == N - TABLE[field].null_count


def test_filter_with_limit(server, fds):
    f = [{"field": "i32", "op": ">", "value": 0}]
    for limit in (0, 1, 10, 700, 100000):
        check(server, fds, f, limit=limit)


def test_filter_with_columns(server, fds):
    # The filtered column need not be among the returned ones.
    check(server, fds, [{"field": "s", "op": "prefix", "value": "a"}], columns=["f64", "id"])
    check(server, fds, [{"field": "ts", "op": "<", "value": "2024-01-04T00:00:00"}],
          columns=["vector"], limit=50)


def test_filter_matching_nothing(server, fds):
    got = check(server, fds, [{"field": "i32", "op": ">", "value": 10_000}])
    assert got.num_rows == 0


def test_empty_filter_list(server, fds):
    got = check(server, fds, [])
    assert got.num_rows == N
