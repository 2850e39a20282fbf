"""Vectors held once: once rows are indexed, their batches' vector column points at the HNSW
graph's copy of the vectors (the received copy is freed), after a put and after a restart
from a snapshot (the mapped graph file). What a client reads must not change."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import (action, assert_tables_equal, make_table, put_table, scan, sort_by_id,
                           stats, unique_name, vectors_of, wait_until)
from test_snapshots import NO_TRIGGERS, nearest_id, restart_after_sigkill, wait_ready

ROWS = 10000


def put_until_ready(start_server, table, batch_size):
    """A fresh server holding `table` in a new dataset, every row indexed: (server, name)."""
    srv = start_server(NO_TRIGGERS)
    name = unique_name("shared")
    put_table(srv.data, name, table, batch_size=batch_size)
    wait_ready(srv.data, name)
    return srv, name


def check_contents(client, name, table):
    assert_tables_equal(sort_by_id(scan(client, name)), table, name)
    vectors = vectors_of(table.column("vector"))
    for row in (0, 4095, 4096, ROWS - 1):
        assert nearest_id(client, name, vectors[row]) == table.column("id")[row].as_py()


@pytest.mark.parametrize("value_type", [pa.float32(), pa.float16(), pa.int8()],
                         ids=["float32", "float16", "int8"])
def test_indexed_rows_share_their_vectors_with_the_graph(start_server, value_type):
    table = make_table(ROWS, d=16, value_type=value_type, rng=np.random.default_rng(3))
    srv, name = put_until_ready(start_server, table, batch_size=500)
    client = srv.data
    st = stats(client, name)
    # Each full chunk of the graph (4096 vectors) became one batch; the rows of the last chunk
    # (8192..9999) keep their received copy: a cut batch (8192..8499), then three of 500 rows.
    assert st["shared_vector_rows"] == 8192, st
    assert st["batches"] == 6, st
    check_contents(client, name, table)


def test_a_restart_from_a_snapshot_shares_the_mapped_graphs_vectors(start_server):
    table = make_table(ROWS, d=16, rng=np.random.default_rng(4))
    srv, name = put_until_ready(start_server, table, batch_size=1000)
    client = srv.data
    assert action(client, "snapshot", {"dataset": name})[0]["snapshot"][0]["indexed_rows"] == ROWS
    srv = restart_after_sigkill(srv)
    client = srv.data
    wait_ready(client, name)
    # Vectors are shared in the index worker's first turn after the restart, not before READY.
    st = wait_until(lambda: stats(client, name), lambda st: st["shared_vector_rows"] == 8192,
                    "vectors not shared")
    assert st["index_restored_rows"] == ROWS, st
    check_contents(client, name, table)


def test_cosine_datasets_keep_their_vectors_as_put(start_server):
    table = make_table(ROWS, d=16, rng=np.random.default_rng(5))
    table = table.replace_schema_metadata({"longbow.metric": "cosine"})
    srv, name = put_until_ready(start_server, table, batch_size=1000)
    assert stats(srv.data, name)["shared_vector_rows"] == 0
    # The graph normalizes its copy; the rows keep the vectors as they were put.
    assert_tables_equal(sort_by_id(scan(srv.data, name)), table, name)
