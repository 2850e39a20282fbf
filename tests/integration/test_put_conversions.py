"""A later put whose columns have a compatible but different type (string where the dataset
has large_string, int32 where it has int64, float32 where it has float64, dictionary-encoded
text, variable-size lists for the vectors) is converted with safe casts; conversions that could
change a value are refused naming the column, the dataset's type and the put's type.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import INVALID_ARGUMENT, put_table, scan, sort_by_id, unique_name, vector_array

DIM = 4


def rows(n, start, **columns):
    rng = np.random.default_rng(start)
    table = {"id": pa.array(np.arange(start, start + n), pa.int64()),
             "vector": vector_array(rng.standard_normal((n, DIM)).astype(np.float32))}
    table.update(columns)
    return pa.table(table)


def base(n=3, start=0):
    return rows(n, start,
                tag=pa.array([f"t{i}" for i in range(n)], pa.large_string()),
                count=pa.array(range(n), pa.int64()),
                price=pa.array([0.5] * n, pa.float64()),
                blob=pa.array([b"x"] * n, pa.large_binary()),
                small=pa.array(range(n), pa.int32()),
                label=pa.array(["a"] * n, pa.string()))


@pytest.fixture
def dataset(server):
    name = unique_name("conv")
    put_table(server.data, name, base())
    return name


def test_safe_widenings_are_converted(server, dataset):
    n = 3
    later = rows(n, 10,
                 tag=pa.array(["x", None, "z"], pa.string()),
                 count=pa.array([1, 2, 3], pa.int32()),
                 price=pa.array([1.5, 2.5, 3.5], pa.float32()),
                 blob=pa.array([b"a", b"b", b"c"], pa.binary()),
                 small=pa.array([7, 8, 9], pa.int64()),      # narrowing, values fit
                 label=pa.array(["p", "q", "p"]).dictionary_encode())
    put_table(server.data, dataset, later)
    got = sort_by_id(scan(server.data, {"dataset": dataset}))
    assert got.schema.field("tag").type == pa.large_string()
    assert got.schema.field("count").type == pa.int64()
    assert got.schema.field("price").type == pa.float64()
    assert got.schema.field("blob").type == pa.large_binary()
    assert got.schema.field("small").type == pa.int32()
    assert got.schema.field("label").type == pa.string()
    tail = got.slice(3).to_pydict()
    assert tail["tag"] == ["x", None, "z"]
    assert tail["count"] == [1, 2, 3]
    assert tail["price"] == [1.5, 2.5, 3.5]
    assert tail["blob"] == [b"a", b"b", b"c"]
    assert tail["small"] == [7, 8, 9]
    assert tail["label"] == ["p", "q", "p"]


def test_filter_on_converted_column(server, dataset):
    put_table(server.data, dataset, base(3, 100).set_column(
        3, "count", pa.array([50, 60, 70], pa.int16())))
    hits = scan(server.data, {"search": {"dataset": dataset, "vector": [0.0] * DIM, "k": 10,
                                          "filters": [{"field": "count", "op": ">=", "value": 60}]}})
    assert sorted(hits.column("count").to_pylist()) == [60, 70]


def test_variable_size_list_vectors_in_a_later_put(server, dataset):
    vectors = [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 1.0]]
    later = base(2, 20).set_column(1, "vector", pa.array(vectors, pa.list_(pa.float32())))
    put_table(server.data, dataset, later)
    later = base(1, 30).set_column(1, "vector", pa.array([[1.0] * DIM], pa.large_list(pa.float64())))
    put_table(server.data, dataset, later)
    got = sort_by_id(scan(server.data, {"dataset": dataset}))
    assert got.num_rows == 6
    assert got.column("vector").to_pylist()[3:] == [vectors[0], vectors[1], [1.0] * DIM]


@pytest.mark.parametrize("column,array,needles", [
    ("small", pa.array([1, 2, 2**40], pa.int64()), ["'small'", "int64", "int32"]),
    ("price", pa.array(["1", "2", "3"]), ["'price'", "string", "double", "no safe conversion"]),
    ("count", pa.array([0.5, 1.0, 2.0], pa.float64()), ["'count'", "double", "int64"]),
    ("count", pa.array([1, 2, 3], pa.uint64()).cast(pa.float32()), ["'count'", "float"]),
    ("tag", pa.array([1, 2, 3], pa.int64()), ["'tag'", "large_string"]),
])
def test_lossy_conversions_are_refused(server, dataset, column, array, needles):
    table = base(3, 40)
    table = table.set_column(table.schema.get_field_index(column), column, array)
    with pytest.raises(INVALID_ARGUMENT) as info:
        put_table(server.data, dataset, table)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    assert scan(server.data, {"dataset": dataset}).num_rows == 3


def test_list_vectors_of_the_wrong_width_are_refused(server, dataset):
    later = base(2, 50).set_column(1, "vector", pa.array([[1.0] * DIM, [1.0] * (DIM + 1)],
                                                         pa.list_(pa.float32())))
    with pytest.raises(INVALID_ARGUMENT, match="vector column 'vector'.*width 4"):
        put_table(server.data, dataset, later)


def test_a_new_dataset_still_needs_fixed_size_vectors(server):
    table = pa.table({"vector": pa.array([[1.0] * DIM], pa.list_(pa.float32()))})
    with pytest.raises(INVALID_ARGUMENT, match="fixed_size_list"):
        put_table(server.data, unique_name("varlist"), table)
