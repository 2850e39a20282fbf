"""Datasets whose ids are unique (schema metadata `arbalest.unique_id = "true"`): a put over
DoPut or DoExchange ingest replaces the rows whose ids it carries, in scans, vector and hybrid
searches, stats and deletes; a restart keeps the last values; bad options and ids are refused
with a clear error while the server keeps serving; and SIGKILLs during concurrent upserts never
leave an id twice, missing, or older than its last acked version.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, ServerProcess, action, put_table, scan, stats,
                           unique_name, vectors_of)

pytestmark = pytest.mark.timeout(600)

DIM = 8
UNIQUE = {"arbalest.unique_id": "true"}


def rows(ids, version: int, metadata=UNIQUE, id_type=pa.int64()) -> pa.Table:
    """Rows with `ids` at `version`: vectors derived from (id, version), a text column."""
    ids = np.asarray(ids)
    keys = ids if not pa.types.is_string(id_type) else np.arange(len(ids))
    vectors = (keys[:, None] * 1.0 + version * 0.001 + np.arange(DIM)[None, :]).astype(np.float32)
    table = pa.table({
        "id": pa.array(ids.tolist(), id_type),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        "version": pa.array(np.full(len(ids), version), pa.int64()),
        "body": pa.array([f"word{i} version{version}" for i in keys.tolist()]),
    })
    return table.replace_schema_metadata(metadata)


def with_null_id(table: pa.Table) -> pa.Table:
    """`table` with a null id in its last row."""
    ids = table.column("id").to_pylist()[:-1] + [None]
    return table.set_column(0, pa.field("id", pa.int64()), pa.array(ids, pa.int64()))


def versions(client, name) -> dict:
    table = scan(client, name)
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), f"an id twice in {name}: {sorted(ids)}"
    return dict(zip(ids, table.column("version").to_pylist()))


def search(client, name, vector, k, **keys) -> pa.Table:
    body = {"dataset": name, "vector": [float(x) for x in vector], "k": k, **keys}
    return scan(client, {"search": body})


def test_doput_upsert_replaces_rows_everywhere(server):
    name = unique_name("upsert")
    meta = {**UNIQUE, "arbalest.text.columns": "body"}
    put_table(server.data, name, rows(range(100), 1, meta))
    put_table(server.data, name, rows(range(50, 150), 2), batch_size=40)
    want = {i: 1 if i < 50 else 2 for i in range(150)}
    assert versions(server.data, name) == want
    st = stats(server.data, name)
    assert (st["rows"], st["deleted_rows"]) == (150, 50)
    # Vector search: the old version's vector is gone, indexed or not.
    action(server.data, "check_readiness", {"dataset": name, "wait": 60})
    near = search(server.data, name, np.arange(DIM) + 70.001, 3)
    assert near.column("id").to_pylist()[0] == 70
    assert set(near.column("version").to_pylist()) == {2}
    # Hybrid search: the old version's text is gone too.
    hybrid = search(server.data, name, np.arange(DIM) + 70.0, 5, text_query="version1", alpha=0.0)
    assert set(hybrid.column("id").to_pylist()) <= set(range(50)), hybrid.to_pydict()
    # A delete then a put of the same id: it is back once.
    assert action(server.data, "delete", {"dataset": name, "ids": [60]})[0]["deleted"] == 1
    put_table(server.data, name, rows([60, 60, 61], 3))  # repeated ids: the last one wins
    got = versions(server.data, name)
    assert (got[60], got[61], len(got)) == (3, 3, 150)


def test_exchange_ingest_upserts(server):
    name = unique_name("xupsert")
    put_table(server.data, name, rows(range(10), 1))
    table = rows(range(5, 15), 2)
    writer, reader = server.data.do_exchange(flight.FlightDescriptor.for_path("ingest", name))
    with writer:
        writer.begin(table.schema)
        for batch in table.to_batches(max_chunksize=5):
            writer.write_batch(batch)
            assert json.loads(reader.read_chunk().app_metadata.to_pybytes())["status"] == "acked"
        writer.done_writing()
    assert versions(server.data, name) == {i: 1 if i < 5 else 2 for i in range(15)}


def test_string_ids_and_restart_keep_the_last_values(tmp_path):
    srv = ServerProcess(tmp_path / "node").start()
    names = [f"k{i}" for i in range(20)]
    put_table(srv.data, "s", rows(names, 1, id_type=pa.string()))
    put_table(srv.data, "s", rows(names[:10], 2, id_type=pa.string()))
    put_table(srv.data, "i", rows(range(20), 1))
    action(srv.data, "compact", {"dataset": "i"})
    put_table(srv.data, "i", rows(range(15, 25), 2))
    put_table(srv.data, "i", rows(range(20, 30), 3))
    assert srv.stop() == 0
    srv = ServerProcess(tmp_path / "node").start()
    assert versions(srv.data, "s") == {n: 2 if i < 10 else 1 for i, n in enumerate(names)}
    want = {i: 1 if i < 15 else 2 if i < 20 else 3 for i in range(30)}
    assert versions(srv.data, "i") == want
    put_table(srv.data, "i", rows([0, 29], 4))  # the id map was rebuilt by replay
    want.update({0: 4, 29: 4})
    assert versions(srv.data, "i") == want
    assert srv.stop() == 0


@pytest.mark.parametrize("make,needles", [
    (lambda: rows([1], 1, {"arbalest.unique_id": "yes"}), ["'unique_id' is 'yes'", "'true'"]),
    (lambda: rows([1], 1).drop_columns(["id"]), ["no 'id' column"]),
    (lambda: rows([1], 1, id_type=pa.float64()), ["id column 'id' must be int64"]),
    (lambda: with_null_id(rows([1, 2], 1)), ["null"]),
])
def test_bad_unique_datasets_are_refused(server, make, needles):
    name = unique_name("badupsert")
    with pytest.raises(INVALID_ARGUMENT) as raised:
        put_table(server.data, name, make())
    for needle in needles:
        assert needle in str(raised.value), str(raised.value)
    assert server.alive()


def test_later_puts_disagreeing_on_the_option_are_refused(server):
    name, plain = unique_name("agree"), unique_name("plain")
    put_table(server.data, name, rows(range(5), 1))
    with pytest.raises(INVALID_ARGUMENT, match="option 'unique_id' to 'false'"):
        put_table(server.data, name, rows(range(5), 2, {"arbalest.unique_id": "false"}))
    put_table(server.data, plain, rows(range(5), 1, {}))
    with pytest.raises(INVALID_ARGUMENT, match="option 'unique_id' to 'true'"):
        put_table(server.data, plain, rows(range(5), 2))
    with pytest.raises(INVALID_ARGUMENT, match="null"):
        put_table(server.data, name, with_null_id(rows([7, 8], 2)))
    assert versions(server.data, name) == {i: 1 for i in range(5)}
    assert server.alive()


# -- SIGKILL during concurrent upserts ----------------------------------------------------------

IDS_PER_WRITER = 300
WRITERS = 3


class Upserter(threading.Thread):
    """Upserts its own ids (writer w: w * IDS_PER_WRITER ..) with rising versions, a random
    slice per batch, until the server dies; records per id the last version acked and the last
    sent (in flight when the server died)."""

    def __init__(self, port: int, writer: int, first_version: int, seed: int):
        super().__init__(daemon=True)
        self.port, self.version = port, first_version
        self.ids = np.arange(writer * IDS_PER_WRITER, (writer + 1) * IDS_PER_WRITER)
        self.rng = random.Random(seed)
        self.acked: dict[int, int] = {}
        self.sent: dict[int, int] = {}

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):  # the server is killed under us: that is the test
            writer, reader = client.do_put(flight.FlightDescriptor.for_path("crash"),
                                           rows([0], 0).schema)
            while True:
                self.version += 1
                start = self.rng.randrange(IDS_PER_WRITER)
                picked = np.roll(self.ids, -start)[:self.rng.randrange(1, IDS_PER_WRITER)]
                # Each id twice, the second copy winning: the batch replaces its own rows too.
                batch = pa.concat_tables([rows(picked, -self.version),
                                          rows(picked, self.version)]).combine_chunks()
                for i in picked.tolist():
                    self.sent[i] = self.version
                (one,) = batch.to_batches()  # one batch, one ack
                writer.write_batch(one)
                assert reader.read() is not None  # acked: durable from here on
                for i in picked.tolist():
                    self.acked[i] = self.version
        client.close()


def check_upserted(client, acked: dict, sent: dict):
    table = scan(client, "crash")
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id twice after recovery"
    got = dict(zip(ids, table.column("version").to_pylist()))
    assert set(got) == set(range(WRITERS * IDS_PER_WRITER)), "ids missing or extra"
    for i, version in got.items():
        assert acked.get(i, 0) <= version <= sent.get(i, 0), \
            f"id {i}: version {version}, acked {acked.get(i)}, last sent {sent.get(i)}"
    expected = (np.array(ids)[:, None] * 1.0 + np.array(table.column("version").to_pylist())
                [:, None] * 0.001 + np.arange(DIM)[None, :]).astype(np.float32)
    np.testing.assert_array_equal(vectors_of(table.column("vector")), expected)


def test_sigkill_during_upserts_keeps_each_id_once_at_its_last_version(tmp_path):
    rng = random.Random(20261205)
    workdir = tmp_path / "node"
    srv = ServerProcess(workdir, ["--wal-segment-size", "256KiB"]).start()
    put_table(srv.data, "crash", rows(range(WRITERS * IDS_PER_WRITER), 0))
    acked = {i: 0 for i in range(WRITERS * IDS_PER_WRITER)}
    sent = dict(acked)
    version = 0
    for iteration in range(8):
        fsync = ["always", "interval", "none"][iteration % 3]
        if iteration:
            srv = ServerProcess(workdir, ["--wal-segment-size", "256KiB", "--fsync", fsync,
                                          "--compact-deleted-fraction", "0.3"]).start()
            check_upserted(srv.data, acked, sent)
        writers = [Upserter(srv.port, w, version + w * 1_000_000, rng.random())
                   for w in range(WRITERS)]
        version += 10_000_000
        for w in writers:
            w.start()
        threading.Event().wait(rng.uniform(0.2, 1.0))
        srv.proc.kill()
        srv.proc.wait(10)
        for w in writers:
            w.join(30)
            assert not w.is_alive(), "a client hung after the server was killed"
            acked.update(w.acked)
            sent.update(w.sent)
        srv.stop()
    assert any(v > 0 for v in acked.values()), "no upsert was ever acked: nothing was tested"
    srv = ServerProcess(workdir).start()
    check_upserted(srv.data, acked, sent)
    assert srv.stop() == 0
