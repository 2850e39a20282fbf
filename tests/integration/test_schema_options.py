"""Dataset options in schema metadata: `longbow.<name>`, `arbalest.<name>` and the bare
`<name>` all count, metric names in any case; unknown keys under our prefixes and later puts
that ask for other options are refused with the list of known options; `vector_column` names
the vector column. Options survive a restart.
"""

from __future__ import annotations

import signal

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import (INVALID_ARGUMENT, make_table, put_table, scan, stats, unique_name,
                           vector_array)

DIM = 8


def with_metadata(table: pa.Table, metadata: dict) -> pa.Table:
    return table.replace_schema_metadata(metadata)


@pytest.mark.parametrize("metadata,metric", [
    ({"longbow.metric": "cosine"}, "cosine"),
    ({"arbalest.metric": "cosine"}, "cosine"),
    ({"metric": "cosine"}, "cosine"),
    ({"metric": "Cosine"}, "cosine"),
    ({"arbalest.metric": "DOT_PRODUCT"}, "dot_product"),
    ({"metric": "inner_product"}, "dot_product"),
    ({"metric": "L2"}, "euclidean"),
    ({"pandas": "{}", "my.own.key": "kept"}, "euclidean"),
])
def test_metric_in_any_spelling(server, metadata, metric):
    name = unique_name("metric")
    put_table(server.data, name, with_metadata(make_table(50, d=DIM), metadata))
    st = stats(server.meta, name)
    assert st["index"]["metric"] == metric, st


def test_index_options_unprefixed(server):
    name = unique_name("opts")
    meta = {"index.m": "8", "arbalest.index.ef_construction": "64"}
    put_table(server.data, name, with_metadata(make_table(50, d=DIM), meta))
    st = stats(server.meta, name)
    assert st["index"]["m"] == 8 and st["index"]["ef_construction"] == 64, st


@pytest.mark.parametrize("metadata,needles", [
    ({"arbalest.metrik": "cosine"}, ["arbalest.metrik", "metric", "vector_column"]),
    ({"longbow.index.M": "8"}, ["longbow.index.M", "index.m"]),
    ({"metric": "cosine", "longbow.metric": "dot"}, ["different values", "metric"]),
    ({"metric": "manhattan"}, ["manhattan", "cosine"]),
    ({"arbalest.index.m": "zero"}, ["index.m", "positive integer"]),
])
def test_bad_options_are_refused(server, metadata, needles):
    name = unique_name("badopt")
    with pytest.raises(INVALID_ARGUMENT) as info:
        put_table(server.data, name, with_metadata(make_table(20, d=DIM), metadata))
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    with pytest.raises(pa.ArrowKeyError):
        stats(server.meta, name)  # nothing was created


def test_later_put_asking_for_another_metric_is_refused(server):
    name = unique_name("later")
    put_table(server.data, name, with_metadata(make_table(20, d=DIM), {"metric": "cosine"}))
    # The same options again (any spelling), or none: accepted.
    put_table(server.data, name,
              with_metadata(make_table(20, d=DIM, start_id=20), {"arbalest.metric": "cosine"}))
    put_table(server.data, name, make_table(20, d=DIM, start_id=40))
    with pytest.raises(INVALID_ARGUMENT, match="option 'metric'.*'euclidean'.*'cosine'"):
        put_table(server.data, name,
                  with_metadata(make_table(20, d=DIM, start_id=60), {"metric": "euclidean"}))
    with pytest.raises(INVALID_ARGUMENT, match="unknown schema metadata key 'longbow.bogus'"):
        put_table(server.data, name,
                  with_metadata(make_table(20, d=DIM, start_id=60), {"longbow.bogus": "1"}))
    assert scan(server.data, {"dataset": name}).num_rows == 60


def test_vector_column_named_by_metadata(server):
    name = unique_name("vcol")
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((100, DIM)).astype(np.float32)
    table = pa.table({"id": pa.array(np.arange(100), pa.int64()),
                      "emb": vector_array(vectors),
                      # a fixed-size list that is *not* the vector column
                      "vector": vector_array(np.zeros((100, 2), np.float32))},
                     metadata={"arbalest.vector_column": "emb", "metric": "cosine"})
    put_table(server.data, name, table)
    st = stats(server.meta, name)
    assert st["vector_column"] == "emb" and st["dim"] == DIM, st
    # Later puts need not repeat the option.
    more = pa.table({"id": pa.array([100], pa.int64()), "emb": vector_array(vectors[:1]),
                     "vector": vector_array(np.zeros((1, 2), np.float32))})
    put_table(server.data, name, more)
    hits = scan(server.data, {"search": {"dataset": name, "vector": vectors[5].tolist(), "k": 2}})
    assert hits.column("id")[0].as_py() == 5, hits


@pytest.mark.parametrize("table,needles", [
    (pa.table({"vector": vector_array(np.zeros((3, DIM), np.float32))},
              metadata={"vector_column": "emb"}), ["'emb'", "no such column"]),
    (pa.table({"emb": pa.array([1.0, 2.0, 3.0])}, metadata={"arbalest.vector_column": "emb"}),
     ["vector column 'emb'", "fixed_size_list"]),
])
def test_vector_column_option_errors(server, table, needles):
    with pytest.raises(INVALID_ARGUMENT) as info:
        put_table(server.data, unique_name("vcolbad"), table)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_options_survive_restart(start_server):
    srv = start_server()
    name = unique_name("restart")
    rng = np.random.default_rng(9)
    table = pa.table({"id": pa.array(np.arange(200), pa.int64()),
                      "emb": vector_array(rng.standard_normal((200, DIM)).astype(np.float32))},
                     metadata={"metric": "COSINE", "vector_column": "emb"})
    put_table(srv.data, name, table)
    assert srv.stop(signal.SIGKILL) is not None
    srv.start()
    st = stats(srv.meta, name)
    assert st["index"]["metric"] == "cosine" and st["vector_column"] == "emb", st
    assert scan(srv.data, {"dataset": name}).num_rows == 200
