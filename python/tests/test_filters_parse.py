"""The filter builder and the where parser, compiled to the server's filter JSON (no server)."""

import datetime

import numpy as np
import pytest

import arbalest_client as ab
from arbalest_client import col, parse_where


def j(expr):
    return expr.to_json()


def cmp(field, op, value):
    return {"field": field, "op": op, "value": value}


def logic(kind, *filters):
    return {"logic": kind, "filters": list(filters)}


@pytest.mark.parametrize("expr, want", [
    (col("a") == 1, cmp("a", "=", 1)),
    (col("a") != "x", cmp("a", "!=", "x")),
    (col("a") < 1.5, cmp("a", "<", 1.5)),
    (col("a") <= 2, cmp("a", "<=", 2)),
    (col("a") > -3, cmp("a", ">", -3)),
    (col("a") >= 0, cmp("a", ">=", 0)),
    (col("a") == None, cmp("a", "=", None)),  # noqa: E711
    (col("a").is_null(), cmp("a", "=", None)),
    (col("a").is_not_null(), cmp("a", "!=", None)),
    (col("t").isin(["a", "b"]), cmp("t", "in", ["a", "b"])),
    (col("t").isin(np.array([1, 2])), cmp("t", "in", [1, 2])),
    (col("t").not_in(["a"]), cmp("t", "not in", ["a"])),
    (~col("t").isin(["a"]), cmp("t", "not in", ["a"])),
    (col("t").contains("ab"), cmp("t", "contains", "ab")),
    (col("t").startswith("ab"), cmp("t", "prefix", "ab")),
    (col("a").between(1, 5), logic("and", cmp("a", ">=", 1), cmp("a", "<=", 5))),
    ((col("a") < 1) & (col("b") > 2), logic("and", cmp("a", "<", 1), cmp("b", ">", 2))),
    ((col("a") < 1) | (col("b") > 2), logic("or", cmp("a", "<", 1), cmp("b", ">", 2))),
    (~(col("a") < 1), logic("not", cmp("a", "<", 1))),
    ((col("a") < 1) & (col("b") > 2) & (col("c") == 3),
     logic("and", cmp("a", "<", 1), cmp("b", ">", 2), cmp("c", "=", 3))),
    # Python parses this as col("price") < (10 & ...): the builder still means what it says.
    (col("price") < 10 & col("tag").isin(["a", "b"]),
     logic("and", cmp("price", "<", 10), cmp("tag", "in", ["a", "b"]))),
    (col("price") == 10 | col("tag").isin(["a"]),
     logic("or", cmp("price", "=", 10), cmp("tag", "in", ["a"]))),
    # numpy scalars and datetimes become JSON values
    (col("a") < np.float32(1.5), cmp("a", "<", 1.5)),
    (col("a") == np.int64(7), cmp("a", "=", 7)),
    (col("a") < np.int64(7) & col("b").is_null(),
     logic("and", cmp("a", "<", 7), cmp("b", "=", None))),
    (col("ts") >= datetime.datetime(2024, 1, 2, 3, 4, 5), cmp("ts", ">=", "2024-01-02 03:04:05")),
])
def test_builder(expr, want):
    assert j(expr) == want


def test_builder_misuse_is_a_clear_error():
    with pytest.raises(TypeError, match="parenthesize"):
        bool(col("a") < 1)
    with pytest.raises(TypeError, match="parenthesize"):
        _ = col("a") < 1 & col("b")  # & on a column, not a filter
    with pytest.raises(TypeError, match="truth value"):
        _ = (col("a") < 1) and (col("b") > 1)
    with pytest.raises(ab.InvalidArgument, match="null"):
        _ = col("a") < None
    with pytest.raises(ab.InvalidArgument, match="list of values"):
        col("a").isin("abc")
    with pytest.raises(ab.InvalidArgument, match="finite"):
        _ = col("a") < float("nan")


@pytest.mark.parametrize("text, want", [
    ("price < 10", cmp("price", "<", 10)),
    ("price <= 1.5e3", cmp("price", "<=", 1500.0)),
    ("price > -2", cmp("price", ">", -2)),
    ("price >= .5", cmp("price", ">=", 0.5)),
    ("tag = 'a'", cmp("tag", "=", "a")),
    ("tag == \"a\"", cmp("tag", "=", "a")),
    ("tag != 'it''s'", cmp("tag", "!=", "it's")),
    ("tag <> 'a'", cmp("tag", "!=", "a")),
    ("10 > price", cmp("price", "<", 10)),
    ("flag = true", cmp("flag", "=", True)),
    ("flag = FALSE", cmp("flag", "=", False)),
    ("tag is null", cmp("tag", "=", None)),
    ("tag IS NOT NULL", cmp("tag", "!=", None)),
    ("tag = null", cmp("tag", "=", None)),
    ("tag in ('a', 'b')", cmp("tag", "in", ["a", "b"])),
    ("n in (1, 2, 3)", cmp("n", "in", [1, 2, 3])),
    ("tag not in ('a')", cmp("tag", "not in", ["a"])),
    ("tag like 'ab%'", cmp("tag", "prefix", "ab")),
    ("tag like '%ab%'", cmp("tag", "contains", "ab")),
    ("tag like 'ab'", cmp("tag", "=", "ab")),
    ("tag not like 'ab%'", logic("not", cmp("tag", "prefix", "ab"))),
    ("tag contains 'ab'", cmp("tag", "contains", "ab")),
    ("tag startswith 'ab'", cmp("tag", "prefix", "ab")),
    ("n between 1 and 5", logic("and", cmp("n", ">=", 1), cmp("n", "<=", 5))),
    ("n not between 1 and 5", logic("not", logic("and", cmp("n", ">=", 1), cmp("n", "<=", 5)))),
    ("`odd name` = 1", cmp("odd name", "=", 1)),
    ("price < 10 and tag in ('a', 'b')",
     logic("and", cmp("price", "<", 10), cmp("tag", "in", ["a", "b"]))),
    ("a = 1 or b = 2 and c = 3",
     logic("or", cmp("a", "=", 1), logic("and", cmp("b", "=", 2), cmp("c", "=", 3)))),
    ("(a = 1 or b = 2) and c = 3",
     logic("and", logic("or", cmp("a", "=", 1), cmp("b", "=", 2)), cmp("c", "=", 3))),
    ("not a = 1 and b = 2", logic("and", logic("not", cmp("a", "=", 1)), cmp("b", "=", 2))),
    ("NOT (a = 1 OR b = 2)", logic("not", logic("or", cmp("a", "=", 1), cmp("b", "=", 2)))),
])
def test_where(text, want):
    assert j(parse_where(text)) == want


@pytest.mark.parametrize("text, position, message", [
    ("price <", 7, "expected a value"),
    ("price < 10 and", 14, "expected a column name"),
    ("price 10", 6, "expected an operator after column 'price'"),
    ("tag in 'a'", 7, "expected '(' opening the list"),
    ("tag in ('a' 'b')", 12, "expected ',' or ')'"),
    ("(a = 1", 6, "expected ')'"),
    ("a = 1)", 5, "expected 'and', 'or' or the end"),
    ("tag = 'open", 6, "unterminated string"),
    ("a = 1 && b = 2", 6, "unexpected character '&'"),
    ("a < null", 4, "null can only be compared"),
    ("tag like '%ab'", 9, "suffix"),
    ("tag like 'a_b'", 9, "'_' is not supported"),
    ("", 0, "expected a condition"),
    ("a = 1.2.3", 4, "malformed number"),
])
def test_where_errors_name_the_position(text, position, message):
    with pytest.raises(ab.WhereSyntaxError) as info:
        parse_where(text)
    assert info.value.position == position
    assert message in str(info.value)
    assert isinstance(info.value, ab.InvalidArgument)
    # the message shows the text with a caret under the position
    lines = str(info.value).splitlines()
    assert lines[-2] == f"  {text}" and lines[-1] == "  " + " " * position + "^"


def test_filter_json_combines_filter_and_where():
    assert ab.to_filter_json(col("a") == 1, where="b = 2") == [cmp("a", "=", 1), cmp("b", "=", 2)]
    assert ab.to_filter_json("b = 2") == [cmp("b", "=", 2)]
    assert ab.to_filter_json([cmp("a", "=", 1)]) == [cmp("a", "=", 1)]
    assert ab.to_filter_json(None) is None
    with pytest.raises(ab.InvalidArgument, match="column, not a filter"):
        ab.to_filter_json(col("a"))
