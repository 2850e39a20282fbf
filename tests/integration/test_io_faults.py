"""Injected I/O errors (tests/faults/libio_faults.so, an LD_PRELOAD library) in real servers:
writes, fsyncs, opens and renames of the WAL and of snapshots fail with ENOSPC, EMFILE or EIO
while clients put, delete, drop, compact and snapshot; then the server is killed with SIGKILL
and restarted without the faults.

The invariant, as in test_crash.py: every acked row is there exactly once, every acked delete
holds, and nothing a client was told failed is there. The failures a client may retry come
back as UNAVAILABLE naming the cause: "resource exhausted: disk full" (the log goes on once
there is room again) or "the write-ahead log failed" (after an fsync or I/O error: no more
writes until a restart). Each test takes seconds; scripts/crash_campaign.py runs hundreds of
kills with random faults.
"""
import contextlib
import json
import random
import threading
import time

import numpy as np
import pyarrow.flight as flight
import pytest

from arbalest_util import NOT_FOUND, ServerProcess, action, put_table, scan, scrape, stats, value, wait_until
from io_faults import DISK_FULL, LOG_FAILED, TOO_MANY_FILES, IoFaults
from test_crash import (CompactCaller, SnapshotCaller, Writer, batch_for, check_recovered,
                        kill_while_running)

pytestmark = pytest.mark.timeout(300)

# The WAL is written with direct I/O (pwrite from an aligned buffer, the default) or through
# the page cache (writev, --wal-direct-io false): the call its writes fail in, and the flags.
WAL_IO = {"direct": ("pwrite", []), "buffered": ("writev", ["--wal-direct-io", "false"])}


def put_keys(client, dataset: str, first: int, rows: int = 100) -> dict:
    """Puts rows with keys first..first+rows-1 as one batch; returns its ack."""
    acks = put_table(client, dataset, None,
                     batches=[batch_for(np.arange(first, first + rows), True)])
    assert len(acks) == 1, acks
    return acks[0]


def keys_of(client, dataset: str) -> list:
    return sorted(scan(client, dataset).column("key").to_pylist())


def sigkill(srv: ServerProcess) -> None:
    srv.proc.kill()
    srv.proc.wait(10)


def snapshot_dirs(workdir) -> list:
    root = workdir / "data" / "snapshots"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("wal_io", WAL_IO)
def test_disk_full_on_the_wal_is_retryable_and_changes_nothing(tmp_path, wal_io):
    """ENOSPC on the WAL's writes: puts (to an existing and to a new dataset), deletes and a
    drop fail with "resource exhausted: disk full" and change nothing; a compaction, which logs
    nothing (durable with the next snapshot: row keys do not change), goes on; once there is
    room again the log goes on with the next LSN, and a restart finds exactly what was acked."""
    workdir = tmp_path / "node"
    ops, flags = WAL_IO[wal_io]
    faults = IoFaults(workdir, ops=ops, path="/wal/", errno="ENOSPC")
    srv = ServerProcess(workdir, ["--compact-deleted-fraction", "0", *flags],
                        env=faults.env()).start()
    client = srv.connect()
    seqs = [put_keys(client, "ds", 0)["seq"], put_keys(client, "ds", 100)["seq"]]
    assert action(client, "delete", {"dataset": "ds", "ids": [0, 1]}) == [{"deleted": 2}]
    with faults.armed():
        for first in (200, 300):
            with pytest.raises(flight.FlightUnavailableError, match=DISK_FULL):
                put_keys(client, "ds", first)
        with pytest.raises(flight.FlightUnavailableError, match=DISK_FULL):
            put_keys(client, "other", 0)
        with pytest.raises(flight.FlightUnavailableError, match=DISK_FULL):
            action(client, "delete", {"dataset": "ds", "ids": [2, 3]})
        assert action(client, "compact", {"dataset": "ds"})[0]["reclaimed_rows"] == 2
        with pytest.raises(flight.FlightUnavailableError, match=DISK_FULL):
            action(client, "delete-dataset", {"dataset": "ds"})
    assert len(IoFaults.injected(srv)) >= 5
    # Nothing of the failed requests happened.
    acked = list(range(2, 200))
    assert keys_of(client, "ds") == acked
    assert stats(client, "ds")["deleted_rows"] == 0
    with pytest.raises(NOT_FOUND, match="not found"):
        stats(client, "other")
    # The log goes on, without a gap in its LSNs: the failed records' LSNs are handed out again,
    # so the next put follows the delete logged after the second put.
    seqs.append(put_keys(client, "ds", 400)["seq"])
    acked += list(range(400, 500))
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 3], seqs
    assert action(client, "delete", {"dataset": "ds", "ids": [2, 3]}) == [{"deleted": 2}]
    assert action(client, "compact", {"dataset": "ds"})[0]["reclaimed_rows"] == 2
    acked = [k for k in acked if k not in (2, 3)]
    assert keys_of(client, "ds") == acked
    sigkill(srv)
    srv = ServerProcess(workdir).start()
    client = srv.connect()
    assert keys_of(client, "ds") == acked
    with pytest.raises(NOT_FOUND, match="not found"):
        stats(client, "other")
    put_keys(client, "other", 0)
    assert srv.stop() == 0


def test_too_many_open_files_at_wal_rotation_is_retryable(tmp_path):
    """EMFILE when the WAL opens its next segment: the put fails with "resource exhausted: too
    many open files", and succeeds once files can be opened again."""
    workdir = tmp_path / "node"
    faults = IoFaults(workdir, ops="open", path="/wal/", errno="EMFILE")
    srv = ServerProcess(workdir, ["--wal-segment-size", "64KiB"], env=faults.env()).start()
    client = srv.connect()
    put_keys(client, "ds", 0, rows=1000)  # past the segment size: the next put rotates
    with faults.armed():
        with pytest.raises(flight.FlightUnavailableError, match=TOO_MANY_FILES):
            put_keys(client, "ds", 1000, rows=1000)
    put_keys(client, "ds", 2000, rows=1000)
    acked = list(range(0, 1000)) + list(range(2000, 3000))
    assert keys_of(client, "ds") == acked
    sigkill(srv)
    srv = ServerProcess(workdir).start()
    assert keys_of(srv.connect(), "ds") == acked
    assert srv.stop() == 0


@pytest.mark.parametrize("ops,errno,says", [("open", "EMFILE", "Too many open files"),
                                             ("fsync", "EIO", "Input/output error")])
def test_a_wal_that_cannot_be_opened_at_startup_stops_it_with_a_clear_error(tmp_path, ops,
                                                                             errno, says):
    """At startup the WAL cannot be opened (recovery reads it) or its new segment cannot be made
    durable (the directory's fsync fails): the server exits 1 naming the cause (the second
    aborted before), and starts once the disk is back."""
    workdir = tmp_path / "node"
    srv = ServerProcess(workdir).start()
    put_keys(srv.connect(), "ds", 0)
    assert srv.stop() == 0
    faults = IoFaults(workdir, ops=ops, path="/wal", errno=errno)
    faults.arm()
    srv = ServerProcess(workdir, env=faults.env())
    with pytest.raises(RuntimeError, match="exited with code 1 before it was ready"):
        srv.start(attempts=1)
    assert says in srv.stderr(), srv.stderr_tail()
    faults.disarm()
    srv = ServerProcess(workdir).start()
    assert keys_of(srv.connect(), "ds") == list(range(100))
    assert srv.stop() == 0


@pytest.mark.parametrize("ops,short,wal_io", [("fdatasync", False, "direct"),
                                              ("fdatasync", False, "buffered"),
                                              ("pwrite", False, "direct"),
                                              ("writev", True, "buffered")],
                         ids=["fdatasync", "fdatasync-buffered", "pwrite", "short-writev"])
def test_an_fsync_or_io_error_fails_the_log_and_the_failed_put_stays_gone(tmp_path, ops, short,
                                                                        wal_io):
    """EIO from fdatasync (the batch's bytes were written, but after a failed fsync the kernel
    may have dropped them, and a later fsync that succeeds proves nothing), or from a write
    that got half the group out: the put fails, the log fails with it and refuses every later
    write, even once the disk answers again; reads go on. After a restart the failed put is not
    there, though its bytes were written, and the server takes writes again."""
    workdir = tmp_path / "node"
    faults = IoFaults(workdir, ops=ops, path="/wal/", errno="EIO", short=short)
    srv = ServerProcess(workdir, WAL_IO[wal_io][1], env=faults.env()).start()
    client = srv.connect()
    put_keys(client, "ds", 0)
    with faults.armed():
        with pytest.raises(flight.FlightUnavailableError, match=LOG_FAILED):
            put_keys(client, "ds", 100)
    assert IoFaults.injected(srv)
    with pytest.raises(flight.FlightUnavailableError, match=LOG_FAILED):
        put_keys(client, "ds", 200)
    with pytest.raises(flight.FlightUnavailableError, match=LOG_FAILED):
        action(client, "delete", {"dataset": "ds", "ids": [0]})
    with pytest.raises(flight.FlightUnavailableError, match=LOG_FAILED):
        put_keys(client, "new", 0)
    assert keys_of(client, "ds") == list(range(100))
    assert value(scrape(srv), "arbalest_wal_failed") == 1
    assert "the write-ahead log failed" in srv.stderr()
    sigkill(srv)
    srv = ServerProcess(workdir).start()
    client = srv.connect()
    assert keys_of(client, "ds") == list(range(100))
    assert value(scrape(srv), "arbalest_wal_failed") == 0
    put_keys(client, "ds", 300)
    assert keys_of(client, "ds") == list(range(100)) + list(range(300, 400))
    assert srv.stop() == 0


def test_a_failed_interval_fsync_fails_the_log(tmp_path):
    """--fsync interval acks after the write and syncs in the background; when that fdatasync
    fails, the acked records may be lost on a power failure: the log fails rather than go on
    acking on a disk that drops data (it only logged the error before). A process crash loses
    nothing that was acked."""
    workdir = tmp_path / "node"
    faults = IoFaults(workdir, ops="fdatasync", path="/wal/", errno="EIO")
    srv = ServerProcess(workdir, ["--fsync", "interval", "--fsync-interval-ms", "2000"],
                        env=faults.env()).start()
    client = srv.connect()
    put_keys(client, "ds", 0)
    acked = list(range(100))
    with faults.armed():
        try:  # acked after the write, unless 2 s passed since the last sync
            put_keys(client, "ds", 100)
            acked += list(range(100, 200))
        except flight.FlightUnavailableError as error:
            assert LOG_FAILED in str(error), error
        wait_until(lambda: value(scrape(srv), "arbalest_wal_failed"), lambda v: v == 1,
                   "the WAL failed after its background fdatasync failed")
    with pytest.raises(flight.FlightUnavailableError, match=LOG_FAILED):
        put_keys(client, "ds", 200)
    assert keys_of(client, "ds") == acked
    sigkill(srv)
    srv = ServerProcess(workdir).start()
    assert keys_of(srv.connect(), "ds") == acked
    assert srv.stop() == 0


@pytest.mark.parametrize("wal_io", WAL_IO)
def test_a_new_dataset_and_its_first_batch_are_logged_together(tmp_path, wal_io):
    """A put that creates a dataset logs the creation and the batch as one group. A disk-full
    failure of the first write fails both, and one of the second write (which the batch's
    record reached alone before) cannot leave the creation alone in the log: the dataset would
    be in the log but not in the server, the client's retry would log a second creation, and
    every restart would refuse the log."""
    workdir = tmp_path / "node"
    rows = 20_000  # a large batch, slow to encode: a creation logged apart goes out alone
    datasets = []
    for after in (0, 1, 0, 1):
        ops, flags = WAL_IO[wal_io]
        faults = IoFaults(workdir, ops=ops, path="/wal/", errno="ENOSPC", after=after, count=1)
        srv = ServerProcess(workdir, flags, env=faults.env()).start()
        client = srv.connect()
        name = f"fresh{len(datasets)}"
        datasets.append(name)
        with faults.armed():
            try:
                put_keys(client, name, 0, rows=rows)
            except flight.FlightUnavailableError as error:
                assert DISK_FULL in str(error), error
                with pytest.raises(NOT_FOUND, match="not found"):
                    stats(client, name)
                put_keys(client, name, 0, rows=rows)  # the client retries
        sigkill(srv)
    srv = ServerProcess(workdir).start()
    client = srv.connect()
    for name in datasets:
        assert keys_of(client, name) == list(range(rows))
    assert srv.stop() == 0


SNAPSHOT_FAULTS = [
    ("write", "ENOSPC"),  # the Parquet rows
    ("fwrite", "EIO"),  # the graph file
    ("open", "EMFILE"),
    ("fsync", "EIO"),  # making the staging directory durable
    ("rename", "EIO"),  # putting it in place
]


@pytest.mark.parametrize("ops,errno", SNAPSHOT_FAULTS, ids=[o for o, _ in SNAPSHOT_FAULTS])
def test_a_failed_snapshot_leaves_no_half_state(tmp_path, ops, errno):
    """A snapshot whose files cannot be written, synced or renamed fails with an error naming
    the dataset; the previous snapshot stays, no staging directory is left, puts go on, and a
    restart (from the previous snapshot plus the WAL) has every acked row."""
    workdir = tmp_path / "node"
    faults = IoFaults(workdir, ops=ops, path="/snapshots/", errno=errno)
    srv = ServerProcess(workdir, ["--snapshot-interval", "0"], env=faults.env()).start()
    client = srv.connect()
    put_keys(client, "ds", 0, rows=500)
    action(client, "snapshot", {"dataset": "ds"})
    before = snapshot_dirs(workdir)
    assert len(before) == 1, before
    put_keys(client, "ds", 500, rows=500)
    assert action(client, "delete", {"dataset": "ds", "ids": [1]}) == [{"deleted": 1}]
    with faults.armed():
        with pytest.raises(flight.FlightError, match="snapshot of dataset 'ds' failed"):
            action(client, "snapshot", {"dataset": "ds"})
    assert IoFaults.injected(srv)
    assert snapshot_dirs(workdir) == before
    put_keys(client, "ds", 1000, rows=500)
    acked = [k for k in range(1500) if k != 1]
    assert keys_of(client, "ds") == acked
    sigkill(srv)
    srv = ServerProcess(workdir).start()
    client = srv.connect()
    assert keys_of(client, "ds") == acked
    assert action(client, "snapshot", {"dataset": "ds"})[0]["snapshot"][0]["rows"] == len(acked)
    assert srv.stop() == 0


def refused_by_server(error: Exception) -> bool:
    """Whether a failed call was answered by the server (an error it chose, naming its cause),
    rather than cut off by its death (the call's outcome is then in doubt)."""
    return isinstance(error, flight.FlightError) and any(
        phrase in str(error) for phrase in ("rejected", "resource exhausted", LOG_FAILED,
                                            "snapshot of dataset"))


class FaultAwareWriter(Writer):
    """A Writer that also records the keys of batches the server refused with an error (not
    those in flight when it was killed), and the messages."""

    def __init__(self, *args):
        super().__init__(*args)
        self.refused: set[int] = set()
        self.errors: list[str] = []

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):
            while True:
                keys = np.arange(self.next_key, self.next_key + 200)
                self.next_key += 200
                self.sent.update(keys.tolist())
                try:
                    put_table(client, self.dataset, None, batches=[batch_for(keys, True)])
                    self.acked.update(keys.tolist())
                except flight.FlightError as error:
                    if not refused_by_server(error):
                        raise  # the server died: the batch is in doubt
                    self.refused.update(keys.tolist())
                    self.errors.append(str(error))
                    time.sleep(0.01)
        client.close()


class FaultAwareDeleter(threading.Thread):
    """Deletes acked keys; records the deletes acked, refused, and in flight when the server
    was killed."""

    def __init__(self, port, dataset, writer, seed):
        super().__init__(daemon=True)
        self.port, self.dataset, self.writer = port, dataset, writer
        self.rng = random.Random(seed)
        self.deleted: set[int] = set()
        self.refused: set[int] = set()
        self.requested: set[int] = set()
        self.in_doubt: set[int] = set()

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):
            while True:
                acked = list(self.writer.acked)
                if not acked:
                    time.sleep(0.01)
                    continue
                keys = {self.rng.choice(acked) for _ in range(3)}
                self.requested |= keys
                self.in_doubt = keys
                body = json.dumps({"dataset": self.dataset, "ids": sorted(keys)}).encode()
                try:
                    list(client.do_action(flight.Action("delete", body)))
                    self.deleted |= keys
                except flight.FlightError as error:
                    if not refused_by_server(error):
                        raise
                    self.refused |= keys
                self.in_doubt = set()
                time.sleep(0.005)
        client.close()


class Tolerant:
    """For a Caller: a call the server refuses counts as not done, instead of ending the
    thread."""

    def call(self, client) -> bool:
        try:
            return super().call(client)
        except flight.FlightError as error:
            if not refused_by_server(error):
                raise
            return False


class TolerantSnapshotCaller(Tolerant, SnapshotCaller):
    pass


class TolerantCompactCaller(Tolerant, CompactCaller):
    pass


@pytest.mark.parametrize("errno", ["ENOSPC", "EIO"])
def test_random_faults_with_churn_then_sigkill(tmp_path, errno):
    """Puts, deletes, snapshots and compactions while a few percent of the data directory's
    writes, fsyncs, opens and renames fail; SIGKILL at a random moment; a restart without the
    faults has every acked row once, no refused row, every acked delete and no refused one."""
    rng = random.Random(20261205)
    workdir = tmp_path / "node"
    args = ["--wal-segment-size", "128KiB", "--snapshot-wal-bytes", "256KiB",
            "--snapshot-interval", "0", "--compact-deleted-fraction", "0.02",
            "--compact-min-rows", "20"]
    sent, acked, refused = set(), set(), set()
    deleted, refused_deletes, requested, in_doubt = set(), set(), set(), set()
    errors = []
    for round_ in range(3):
        faults = IoFaults(workdir, ops="all", path=str(workdir / "data") + "/", errno=errno,
                          probability=0.03, seed=round_ + 1)
        srv = ServerProcess(workdir, args, env=faults.env()).start()
        client = srv.connect()
        if acked:
            check_recovered(client, "ds", True, sent, acked, requested, deleted)
            assert not set(keys_of(client, "ds")) & refused, "a refused put is there"
        faults.arm()
        writer = FaultAwareWriter(srv.port, "ds", True, round_ * 10_000_000)
        deleter = FaultAwareDeleter(srv.port, "ds", writer, round_)
        callers = [TolerantSnapshotCaller(srv.port, 0.05),
                   TolerantCompactCaller(srv.port, "ds", 0.05)]
        kill_while_running(srv, [writer, deleter] + callers, rng.uniform(1.0, 2.0))
        sent |= writer.sent
        acked |= writer.acked
        refused |= writer.refused
        errors += writer.errors
        deleted |= deleter.deleted
        refused_deletes |= deleter.refused
        requested |= deleter.requested
        in_doubt |= deleter.in_doubt
        srv.stop()
    assert errors, "no put was refused: the faults never reached the WAL"
    for error in errors:
        assert DISK_FULL in error or TOO_MANY_FILES in error or LOG_FAILED in error, error
    srv = ServerProcess(workdir, args).start()
    client = srv.connect()
    check_recovered(client, "ds", True, sent, acked, requested, deleted)
    present = set(keys_of(client, "ds"))
    assert not present & refused, "a refused put is there"
    kept = refused_deletes - deleted - in_doubt
    assert kept & acked <= present, "a refused delete was applied"
    assert srv.stop() == 0
