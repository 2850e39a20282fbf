"""Concurrent clients: writers into one dataset, writers into different datasets, and scans
that run while writes land (a scan sees whole batches only)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import (assert_tables_equal, put_table, scan, scrape, sort_by_id, stats,
                           vector_array, wait_until)

D = 16


def rows_for(ids: np.ndarray) -> pa.Table:
    """Rows whose content is a function of the id, so any row can be checked on its own."""
    ids = np.asarray(ids, dtype=np.int64)
    vec = (ids[:, None] * 0.5 + np.arange(D)[None, :]).astype(np.float32)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "vector": vector_array(vec),
        "writer": pa.array(ids // 1_000_000, pa.int32()),
        "note": pa.array([f"row-{i}" for i in ids]),
    })


def _run_all(fns):
    """Runs the callables on their own threads, all started together; re-raises failures."""
    barrier = threading.Barrier(len(fns))

    def wrap(fn):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(len(fns)) as pool:
        futures = [pool.submit(wrap, fn) for fn in fns]
        return [f.result(timeout=120) for f in futures]


def test_concurrent_writers_one_dataset(server, ds):
    writers, puts, batches, batch_rows = 4, 6, 4, 500

    def writer(w):
        # Each writer has its own connection; half of them use the meta port.
        client = server.connect(server.port if w % 2 == 0 else server.meta_port)
        acks = []
        for p in range(puts):
            base = w * 1_000_000 + p * batches * batch_rows
            t = rows_for(np.arange(base, base + batches * batch_rows))
            acks.append(put_table(client, ds, t, batch_size=batch_rows))
        return acks

    results = _run_all([lambda w=w: writer(w) for w in range(writers)])

    got = scan(server.data, ds)
    want_ids = np.sort(np.concatenate([
        w * 1_000_000 + np.arange(puts * batches * batch_rows) for w in range(writers)]))
    got_ids = got["id"].to_numpy()
    assert len(got_ids) == len(want_ids), "rows lost or duplicated"
    assert np.array_equal(np.sort(got_ids), want_ids), "some id missing or present twice"
    assert_tables_equal(sort_by_id(got), rows_for(want_ids), "rows of 4 concurrent writers")
    # Within one writer, its rows keep their put order.
    for w in range(writers):
        mine = got_ids[got_ids // 1_000_000 == w]
        assert np.all(np.diff(mine) > 0), f"writer {w}'s rows out of order"
    # Acks: every batch acked with its rows; seqs unique, increasing within each put.
    seqs = []
    for acks_of_writer in results:
        for acks in acks_of_writer:
            assert [a["rows"] for a in acks] == [batch_rows] * batches
            s = [a["seq"] for a in acks]
            assert all(a < b for a, b in zip(s, s[1:])), s
            seqs += s
    assert len(set(seqs)) == len(seqs), "seq reused across concurrent puts"
    assert stats(server.meta, ds)["rows"] == len(want_ids)


def test_concurrent_writers_different_datasets(server, ds):
    writers = 4
    names = [f"{ds}_{w}" for w in range(writers)]

    def writer(w):
        client = server.connect()
        for p in range(5):
            base = w * 1_000_000 + p * 1000
            put_table(client, names[w], rows_for(np.arange(base, base + 1000)),
                      batch_size=250)

    _run_all([lambda w=w: writer(w) for w in range(writers)])
    for w, name in enumerate(names):
        got = scan(server.meta, name)
        assert_tables_equal(got, rows_for(w * 1_000_000 + np.arange(5000)),
                            f"dataset of writer {w}")


def test_creating_one_dataset_from_many_clients_at_once(server, ds):
    # Every client's first put races to create the dataset.
    n = 8

    def first_put(w):
        put_table(server.connect(), ds, rows_for(np.arange(w * 100, w * 100 + 100)))

    _run_all([lambda w=w: first_put(w) for w in range(n)])
    got = scan(server.data, ds)
    assert np.array_equal(np.sort(got["id"].to_numpy()), np.arange(n * 100))


def _batches_seen(ids: np.ndarray, batch_of: dict) -> set:
    """The batches a scan's ids belong to; fails if a batch is only partly there."""
    seen = {}
    for i in ids.tolist():
        b = batch_of[i]
        seen[b] = seen.get(b, 0) + 1
    return seen


@pytest.mark.parametrize("writers", [1, 3])
def test_scan_during_writes_sees_whole_batches(server, ds, writers):
    # Distinct batch sizes per writer; batches of each writer go out in several puts.
    rng = np.random.default_rng(writers)
    plan = []  # (writer, [batch tables])
    batch_of, size_of = {}, {}
    next_id = 0
    for w in range(writers):
        sizes = rng.integers(50, 3000, 24)
        tables = []
        for k, s in enumerate(sizes):
            ids = np.arange(next_id, next_id + s)
            next_id += s
            key = (w, k)
            for i in ids.tolist():
                batch_of[i] = key
            size_of[key] = int(s)
            tables.append(rows_for(ids))
        plan.append(tables)
    # Create the dataset so the first scans do not race its creation.
    put_table(server.data, ds, rows_for(np.array([10**9])))
    batch_of[10**9], size_of["seed"] = "seed", 1
    done = threading.Event()
    scans = []

    def writer(w):
        client = server.connect()
        tables = plan[w]
        for start in range(0, len(tables), 4):  # 4 batches per put
            chunk = tables[start:start + 4]
            put_table(client, ds, pa.concat_tables(chunk),
                      batches=[t.to_batches()[0] for t in chunk])

    reading = threading.Event()
    reader_error = []

    def reader():
        client = server.connect(server.meta_port)
        try:
            while not done.is_set():
                scans.append(scan(client, {"dataset": ds, "columns": ["id", "vector"]}))
                reading.set()
            scans.append(scan(client, {"dataset": ds, "columns": ["id", "vector"]}))
        except Exception as e:  # noqa: BLE001 - re-raised on the test thread
            reader_error.append(e)
        finally:
            reading.set()

    rt = threading.Thread(target=reader)
    rt.start()
    assert reading.wait(30), "first scan did not return"
    try:
        _run_all([lambda w=w: writer(w) for w in range(writers)])
    finally:
        done.set()
        rt.join(120)
    assert not rt.is_alive()
    if reader_error:
        raise reader_error[0]
    assert len(scans) >= 2
    counts = []
    for t in scans:
        ids = t["id"].to_numpy()
        seen = _batches_seen(ids, batch_of)
        partial = {b: n for b, n in seen.items() if n != size_of.get(b, 1)}
        assert not partial, f"scan saw part of a batch: {partial}"
        # Whole batches also means whole rows: each vector belongs to its id.
        want_vec = (ids[:, None] * 0.5 + np.arange(D)[None, :]).astype(np.float32)
        got_vec = t["vector"].combine_chunks().flatten().to_numpy().reshape(-1, D)
        assert np.array_equal(got_vec, want_vec)
        counts.append(t.num_rows)
        if writers == 1:
            # One writer: a scan is a prefix of its batches, in order.
            order = [batch_of[i] for i in ids.tolist()[1:]]
            ks = [k for _, k in dict.fromkeys(order)]
            assert ks == list(range(len(ks))), "scan is not a prefix of the put batches"
    assert counts == sorted(counts), f"row count went down between scans: {counts}"
    assert counts[-1] == next_id + 1


_KILLED_WRITER = r"""
import sys, numpy as np, pyarrow as pa, pyarrow.flight as flight
port, name, rows = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = flight.connect(f"grpc://127.0.0.1:{port}")
schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 16))])
writer, _ = client.do_put(flight.FlightDescriptor.for_path(name), schema)
start = 0
while True:
    ids = np.arange(start, start + rows, dtype=np.int64)
    vec = (ids[:, None] * 0.5 + np.arange(16)[None, :]).astype(np.float32).reshape(-1)
    writer.write_batch(pa.record_batch([pa.array(ids),
        pa.FixedSizeListArray.from_arrays(pa.array(vec), 16)], schema=schema))
    start += rows
"""


def test_client_killed_mid_put(server, ds, tmp_path):
    """A client that dies in the middle of a DoPut stream leaves whole batches only, and the
    server keeps serving (the dataset accepts more puts)."""
    import subprocess
    import sys
    import time

    def puts_finished() -> float:
        return sum(v for (name, labels), v in scrape(server).items()
                   if name == "arbalest_rpc_total" and ("method", "DoPut") in labels)

    rows = 1000
    puts_before = puts_finished()
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(server.port), ds,
                              str(rows)], stderr=open(tmp_path / "child.err", "wb"))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert child.poll() is None, (tmp_path / "child.err").read_text()
            try:
                if scan(server.meta, {"dataset": ds, "columns": ["id"]}).num_rows >= 5 * rows:
                    break
            except pa.ArrowKeyError:
                pass  # not created yet
            assert time.monotonic() < deadline, "writer made no progress"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait(10)
    # The batch in flight at the kill is still stored if its WAL write completes; wait until the
    # server has ended the stream (a slow disk can delay that past any fixed sleep).
    wait_until(puts_finished, lambda n: n > puts_before, "the dead client's DoPut not ended", 60)
    first = scan(server.data, {"dataset": ds, "columns": ["id", "vector"]})
    n = first.num_rows
    assert n % rows == 0, f"{n} rows: part of a batch was stored"
    ids = first["id"].to_numpy()
    assert np.array_equal(ids, np.arange(n)), "stored rows are not whole, in-order batches"
    got_vec = first["vector"].combine_chunks().flatten().to_numpy().reshape(-1, D)
    assert np.array_equal(got_vec, (ids[:, None] * 0.5 + np.arange(D)).astype(np.float32))
    time.sleep(1.0)
    assert scan(server.data, {"dataset": ds, "columns": ["id"]}).num_rows == n, \
        "rows appeared after the client was gone"
    more = pa.table({"id": pa.array(np.arange(n, n + 10), pa.int64()),
                     "vector": vector_array((np.arange(n, n + 10)[:, None] * 0.5
                                             + np.arange(D)).astype(np.float32))})
    put_table(server.data, ds, more)
    assert scan(server.data, ds).num_rows == n + 10
