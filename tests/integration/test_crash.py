"""Crash safety: real servers killed with SIGKILL at random moments while several clients put
(and, in one test, delete).

After every kill the server restarts on the same data dir, and every row whose batch was acked
must be there exactly once, with the vector it was sent with; every acked delete must still
hold. The WAL segment size is small so that kills also land during segment rotation; in the
snapshot test, kills also land while snapshots are written and the WAL is checkpointed.
Every other round of the snapshot and compaction tests is killed only after a snapshot or
compaction has finished. ARBALEST_CRASH_ITERATIONS (default 20),
ARBALEST_CRASH_SNAPSHOT_ITERATIONS (default 10) and ARBALEST_CRASH_COMPACT_ITERATIONS (default 8)
set the number of kills; scripts/crash_soak.sh runs many more.
"""
import contextlib
import json
import os
import random
import resource
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import ServerProcess, action, put_table, scan, vectors_of

# Rounds of kills and restarts whose cost grows with the data: more than the default limit.
pytestmark = pytest.mark.timeout(600)

ITERATIONS = int(os.environ.get("ARBALEST_CRASH_ITERATIONS", "20"))
SNAPSHOT_ITERATIONS = int(os.environ.get("ARBALEST_CRASH_SNAPSHOT_ITERATIONS", "10"))
COMPACT_ITERATIONS = int(os.environ.get("ARBALEST_CRASH_COMPACT_ITERATIONS", "8"))
ROWS_PER_BATCH = 200
FIRST_DONE_TIMEOUT = 60  # seconds a client thread may take to get its first operation acked
DIM = 16
BATCHES_PER_STREAM = 5
WRITERS = 3
FSYNC_POLICIES = ["always", "interval", "none"]


def batch_for(keys: np.ndarray, with_ids: bool) -> pa.RecordBatch:
    """A batch whose vectors are derived from the keys, so a recovered row can be checked."""
    vectors = (keys[:, None] * 0.001 + np.arange(DIM)[None, :]).astype(np.float32)
    columns = {
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        "key": pa.array(keys, pa.int64()),
    }
    if with_ids:
        columns = {"id": pa.array(keys, pa.int64()), **columns}
    return pa.RecordBatch.from_pydict(columns)


class Writer(threading.Thread):
    """Puts batches of fresh keys until the server dies; records the keys of acked batches."""

    def __init__(self, port: int, dataset: str, with_ids: bool, first_key: int):
        super().__init__(daemon=True)
        self.port, self.dataset, self.with_ids = port, dataset, with_ids
        self.next_key = first_key
        self.sent: set[int] = set()
        self.acked: set[int] = set()

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):  # the server is killed under us: that is the test
            while True:
                batches = []
                for _ in range(BATCHES_PER_STREAM):
                    keys = np.arange(self.next_key, self.next_key + ROWS_PER_BATCH)
                    self.next_key += ROWS_PER_BATCH
                    batches.append((keys, batch_for(keys, self.with_ids)))
                writer, reader = client.do_put(flight.FlightDescriptor.for_path(self.dataset),
                                               batches[0][1].schema)
                for keys, batch in batches:
                    self.sent.update(keys.tolist())
                    writer.write_batch(batch)
                    ack = reader.read()  # the ack: the batch is durable from here on
                    assert ack is not None
                    self.acked.update(keys.tolist())
                writer.close()
        client.close()


def check_recovered(client, dataset: str, with_ids: bool, sent: set, acked: set,
                    requested=frozenset(), deleted=frozenset()):
    """Every acked row is there once (unless a delete of it was asked for), none that was not
    sent, and no row whose delete was acked."""
    table = scan(client, dataset)
    keys = table.column("key").to_numpy()
    assert len(keys) == len(set(keys.tolist())), f"{dataset}: duplicated rows after recovery"
    present = set(keys.tolist())
    lost = acked - requested - present
    assert not lost, f"{dataset}: {len(lost)} acked rows lost, e.g. {sorted(lost)[:5]}"
    assert present <= sent, f"{dataset}: rows that were never sent"
    undone = present & deleted
    assert not undone, f"{dataset}: acked deletes undone, e.g. {sorted(undone)[:5]}"
    expected = (keys[:, None] * 0.001 + np.arange(DIM)[None, :]).astype(np.float32)
    np.testing.assert_array_equal(vectors_of(table.column("vector")), expected)
    if with_ids:
        np.testing.assert_array_equal(table.column("id").to_numpy(), keys)
    else:  # server-assigned ids stay dense and unique across crashes
        ids = np.sort(table.column("id").to_numpy())
        np.testing.assert_array_equal(ids, np.arange(len(ids)))


def kill_while_running(srv: ServerProcess, threads: list, seconds: float,
                       wait_for: list = ()) -> None:
    """Starts the client `threads`, SIGKILLs the server `seconds` after they start (after the
    threads in `wait_for` have each done their first operation), and waits for every client to
    notice."""
    for thread in threads:
        thread.start()
    for thread in wait_for:
        assert thread.first_done.wait(FIRST_DONE_TIMEOUT), \
            f"{type(thread).__name__} got nothing acked within {FIRST_DONE_TIMEOUT} s"
    time.sleep(seconds)
    srv.proc.kill()
    srv.proc.wait(10)
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a client hung after the server was killed"


def collect(writers: list, sent: dict, acked: dict) -> None:
    """Adds what the writers sent and got acked to `sent` and `acked`, by dataset."""
    for w in writers:
        dataset = "with_ids" if w.with_ids else "assigned"
        sent[dataset] |= w.sent
        acked[dataset] |= w.acked


def test_sigkill_during_puts_loses_no_acked_row(tmp_path):
    rng = random.Random(20261124)
    workdir = tmp_path / "node"
    sent = {"with_ids": set(), "assigned": set()}
    acked = {"with_ids": set(), "assigned": set()}
    next_key = 0
    for iteration in range(ITERATIONS):
        fsync = FSYNC_POLICIES[iteration % len(FSYNC_POLICIES)]
        srv = ServerProcess(workdir, ["--wal-segment-size", "256KiB", "--fsync", fsync]).start()
        client = srv.connect()
        for dataset in sent:  # what survived the previous kill is still there
            if acked[dataset]:
                check_recovered(client, dataset, dataset == "with_ids", sent[dataset],
                                acked[dataset])
        writers = []
        for w in range(WRITERS):
            dataset = "with_ids" if w % 2 == 0 else "assigned"
            writers.append(Writer(srv.port, dataset, dataset == "with_ids", next_key))
            next_key += 10_000_000
        kill_while_running(srv, writers, rng.uniform(0.05, 0.8))
        collect(writers, sent, acked)
        srv.stop()
    assert sum(len(a) for a in acked.values()) > 0, "no batch was ever acked: nothing was tested"
    srv = ServerProcess(workdir).start()
    client = srv.connect()
    for dataset in sent:
        check_recovered(client, dataset, dataset == "with_ids", sent[dataset], acked[dataset])
    assert srv.stop() == 0


def test_full_disk_fails_puts_clearly_and_loses_nothing(tmp_path):
    """A real write error from the kernel: the server runs under a 4 MiB file-size limit, so
    WAL writes past it fail with EFBIG, as they would on a full disk."""
    workdir = tmp_path / "node"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, hard))
    try:
        srv = ServerProcess(workdir, ["--wal-segment-size", "64MiB"]).start()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    client = srv.connect()
    acked_keys = []
    error = None
    for i in range(100):
        keys = np.arange(i * 1000, (i + 1) * 1000)
        try:
            put_table(client, "ds", None, batches=[batch_for(keys, True)])
            acked_keys.extend(keys.tolist())
        except flight.FlightError as e:
            error = e
            break
    assert error is not None, "puts never failed under a 4 MiB file-size limit"
    assert "WAL" in str(error) and "File too large" in str(error), str(error)
    assert acked_keys, "the limit left no room for a single batch"
    # The server keeps serving, with every acked row and nothing of the failed put.
    table = scan(client, "ds")
    assert sorted(table.column("key").to_pylist()) == acked_keys
    assert srv.stop() == 0
    srv = ServerProcess(workdir).start()
    table = scan(srv.connect(), "ds")
    assert sorted(table.column("key").to_pylist()) == acked_keys
    assert srv.stop() == 0


class Deleter(threading.Thread):
    """Deletes a few acked keys per request until the server dies; records the acked deletes.
    Runs beside Writers, so delete records interleave with appends in the log."""

    def __init__(self, port: int, dataset: str, writers: list, seed: int):
        super().__init__(daemon=True)
        self.port, self.dataset, self.writers = port, dataset, writers
        self.rng = random.Random(seed)
        self.requested: set[int] = set()
        self.deleted: set[int] = set()
        self.first_done = threading.Event()  # set at the first acked delete

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):
            while True:
                acked = [k for w in self.writers for k in list(w.acked)]
                if not acked:
                    if not any(w.is_alive() for w in self.writers):
                        break  # the server died before any batch was acked
                    time.sleep(0.005)
                    continue
                keys = {self.rng.choice(acked) for _ in range(self.rng.randint(1, 5))}
                self.requested |= keys
                body = json.dumps({"dataset": self.dataset, "ids": sorted(keys)}).encode()
                list(client.do_action(flight.Action("delete", body)))
                self.deleted |= keys  # acked: durable from here on
                self.first_done.set()
        client.close()


def test_sigkill_during_deletes_keeps_acked_deletes_deleted(tmp_path):
    rng = random.Random(20261125)
    workdir = tmp_path / "node"
    acked: set[int] = set()
    requested: set[int] = set()
    deleted: set[int] = set()
    for iteration, fsync in enumerate(FSYNC_POLICIES):
        srv = ServerProcess(workdir, ["--fsync", fsync]).start()
        present = set(scan(srv.connect(), "dels").column("key").to_pylist()) if acked else set()
        assert not present & deleted, f"acked deletes undone: {sorted(present & deleted)[:5]}"
        assert acked - requested <= present, "rows lost that were never deleted"
        writer = Writer(srv.port, "dels", True, iteration * 10_000_000)
        deleter = Deleter(srv.port, "dels", [writer], iteration)
        # The first round is killed only after a delete was acked, however slow the machine.
        kill_while_running(srv, [writer, deleter], rng.uniform(0.3, 0.8),
                           [deleter] if iteration == 0 else [])
        acked |= writer.acked
        requested |= deleter.requested
        deleted |= deleter.deleted
        srv.stop()
    assert deleted, "no delete was ever acked: nothing was tested"
    srv = ServerProcess(workdir).start()
    present = set(scan(srv.connect(), "dels").column("key").to_pylist())
    assert not present & deleted
    assert acked - requested <= present
    assert srv.stop() == 0


class Caller(threading.Thread):
    """Runs `call(client)` in a loop, `pause` seconds apart, until the server dies; counts the
    calls for which it returns true and sets `first_done` at the first."""

    def __init__(self, port: int, pause: float):
        super().__init__(daemon=True)
        self.port, self.pause = port, pause
        self.count = 0
        self.first_done = threading.Event()

    def call(self, client) -> bool:
        raise NotImplementedError

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):  # killed under us
            while True:
                time.sleep(self.pause)
                if self.call(client):
                    self.count += 1
                    self.first_done.set()
        client.close()


class SnapshotCaller(Caller):
    """Asks for snapshots of every dataset; counts those that wrote one."""

    def call(self, client) -> bool:
        return len(action(client, "snapshot")[0]["snapshot"]) > 0


def kill_repeatedly(workdir, args: list, iterations: int, seed: int, make_caller) -> int:
    """Rounds of two Writers (one dataset with ids, one with assigned ids), a Deleter and the
    thread `make_caller(port, rng)` returns, each round killed at a random moment; every restart
    checks what the rounds before acked. Returns the sum of the callers' `count`s."""
    rng = random.Random(seed)
    sent = {"with_ids": set(), "assigned": set()}
    acked = {"with_ids": set(), "assigned": set()}
    requested: set[int] = set()
    deleted: set[int] = set()
    next_key = 0
    counted = 0

    def check_all(client):
        for dataset in sent:
            if acked[dataset]:
                check_recovered(client, dataset, dataset == "with_ids", sent[dataset],
                                acked[dataset], requested, deleted)

    for iteration in range(iterations):
        srv = ServerProcess(workdir, args).start()
        check_all(srv.connect())
        writers = [Writer(srv.port, "with_ids", True, next_key),
                   Writer(srv.port, "assigned", False, next_key + 10_000_000)]
        next_key += 20_000_000
        deleter = Deleter(srv.port, "with_ids", writers[:1], iteration)
        caller = make_caller(srv.port, rng)
        # Every other round is killed only after the caller's first snapshot or compaction (and
        # a delete) has finished, so that kills land after and during them however slow the
        # machine is.
        kill_while_running(srv, writers + [deleter, caller], rng.uniform(0.1, 1.0),
                           [deleter, caller] if iteration % 2 else [])
        collect(writers, sent, acked)
        requested |= deleter.requested
        deleted |= deleter.deleted
        counted += caller.count
        srv.stop()
    assert deleted, "no delete was ever acked"
    srv = ServerProcess(workdir, args).start()
    check_all(srv.connect())
    assert srv.stop() == 0
    srv = ServerProcess(workdir).start()  # from the shutdown snapshot
    check_all(srv.connect())
    assert srv.stop() == 0
    assert "from snapshots" in srv.stderr()
    return counted


def test_sigkill_during_snapshots_loses_no_acked_row_or_delete(tmp_path):
    """Puts, deletes, snapshots (asked for, and triggered by WAL growth) and checkpoints run
    together; a kill at a random moment may land in any of them."""
    args = ["--wal-segment-size", "128KiB", "--snapshot-wal-bytes", "512KiB",
            "--snapshot-interval", "0"]
    snapshots = kill_repeatedly(tmp_path / "node", args, SNAPSHOT_ITERATIONS, 20261126,
                                lambda port, rng: SnapshotCaller(port, rng.uniform(0.0, 0.2)))
    assert snapshots > 0, "no snapshot ever finished: the kills tested the WAL alone"


class CompactCaller(Caller):
    """Asks for compactions of `dataset`; counts those that reclaimed rows."""

    def __init__(self, port: int, dataset: str, pause: float):
        super().__init__(port, pause)
        self.dataset = dataset

    def call(self, client) -> bool:
        return action(client, "compact", {"dataset": self.dataset})[0]["reclaimed_rows"] > 0


def test_sigkill_during_compactions_loses_no_acked_row_or_delete(tmp_path):
    """Puts, deletes, compactions (asked for, and automatic) and snapshots run together; a kill
    may land before a compaction is logged, after it, or while it is replayed on a snapshot.
    Every acked row must come back once, and no deleted row come back."""
    args = ["--wal-segment-size", "256KiB", "--snapshot-wal-bytes", "1MiB",
            "--snapshot-interval", "0", "--compact-deleted-fraction", "0.02",
            "--compact-min-rows", "20"]
    compactions = kill_repeatedly(
        tmp_path / "node", args, COMPACT_ITERATIONS, 20261127,
        lambda port, rng: CompactCaller(port, "with_ids", rng.uniform(0.0, 0.1)))
    assert compactions > 0, "no compaction reclaimed a row: the kills tested deletes alone"
