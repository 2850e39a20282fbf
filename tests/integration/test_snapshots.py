"""Snapshots and fast restart: the `snapshot` action (alias ForceSnapshot), the snapshot
triggers (--snapshot-interval, --snapshot-wal-bytes, a clean shutdown), and restarts that load
snapshots instead of replaying the whole WAL and rebuilding the index."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, assert_tables_equal, make_table,
                           put_table, scan, sort_by_id, stats, unique_name, vector_array,
                           vectors_of, wait_until)

# Only the snapshots a test asks for.
NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0"]


def wait_ready(client, name, timeout=60.0):
    """Waits until every row of `name` is indexed (check_readiness READY)."""
    return wait_until(lambda: action(client, "check_readiness", {"dataset": name})[0],
                      lambda status: status["status"] == "READY", f"{name} not indexed", timeout)


def wait_for_snapshot(client, name, timeout=60.0) -> dict:
    return wait_until(lambda: stats(client, name), lambda st: st["snapshot_lsn"] > 0,
                      f"no snapshot of {name}", timeout)


def nearest_id(client, name, vector, k=1):
    ticket = {"search": {"dataset": name, "vector": [float(x) for x in vector], "k": k}}
    return scan(client, ticket).column("id").to_pylist()[0]


def snapshot_dirs(srv) -> list[str]:
    root = srv.data_dir / "snapshots"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def last_recovery(srv) -> str:
    """The log line in which the latest start reported its recovery."""
    return [line for line in srv.stderr().splitlines() if "recovered" in line][-1]


def restart_after_sigkill(srv):
    srv.proc.kill()
    srv.proc.wait(10)
    srv.stop()
    return srv.start()


def assigned_ids_table(n, rng, extra=None):
    columns = {"vector": vector_array(rng.standard_normal((n, 8)).astype(np.float16),
                                      pa.float16())}
    if extra is not None:
        columns["note"] = pa.array([extra] * n)
    return pa.table(columns)


def test_snapshot_then_sigkill_keeps_every_acked_row_and_maps_the_graph(start_server):
    srv = start_server(NO_TRIGGERS)
    client = srv.data
    rng = np.random.default_rng(5)
    ids_ds, auto_ds = unique_name("ids"), unique_name("auto")
    first = make_table(4000, d=16, rng=rng)
    put_table(client, ids_ds, first, batch_size=1000)
    put_table(client, auto_ds, assigned_ids_table(500, rng))
    put_table(client, auto_ds, assigned_ids_table(100, rng, extra="evolved"))
    assert action(client, "delete", {"dataset": ids_ds, "ids": [5, 6]}) == [{"deleted": 2}]
    wait_ready(client, ids_ds)

    reply = action(client, "snapshot")
    assert len(reply) == 1 and set(reply[0]) == {"snapshot"}, reply
    written = {r["dataset"]: r for r in reply[0]["snapshot"]}
    assert set(written) >= {ids_ds, auto_ds}, written
    snap = written[ids_ds]
    assert snap["rows"] == 3998 and snap["deleted_rows"] == 2, snap
    assert snap["indexed_rows"] == 4000, snap
    assert snap["lsn"] > 0 and snap["bytes"] > 4000 * 16 * 4 and snap["seconds"] >= 0, snap
    assert written[auto_ds]["rows"] == 600, written[auto_ds]

    # Acked after the snapshot: these come back from the WAL.
    later = make_table(600, d=16, start_id=4000, rng=rng)
    put_table(client, ids_ds, later, batch_size=300)
    put_table(client, auto_ds, assigned_ids_table(50, rng, extra="after"))
    assert action(client, "delete", {"dataset": ids_ds, "ids": [7, 4100]}) == [{"deleted": 2}]
    want_ids = sort_by_id(scan(client, ids_ds))
    want_auto = sort_by_id(scan(client, auto_ds))
    assert want_ids.num_rows == 4596

    srv = restart_after_sigkill(srv)
    client = srv.data
    st = stats(client, ids_ds)  # right after the restart: the graph was mapped, not rebuilt
    assert st["index_restored_rows"] == 4000, st
    assert st["indexed_rows"] >= 4000, st
    assert st["snapshot_lsn"] == snap["lsn"] and st["deleted_rows"] == 4, st
    assert "2 from snapshots (4600 rows" in last_recovery(srv), last_recovery(srv)

    got_ids = sort_by_id(scan(client, ids_ds))
    assert_tables_equal(got_ids, want_ids, "dataset with ids after restart")
    assert_tables_equal(sort_by_id(scan(client, auto_ds)), want_auto,
                        "dataset with assigned ids after restart")
    # Search finds rows from the snapshot (through the mapped graph) and from the WAL.
    vectors = vectors_of(want_ids.column("vector"))
    for row in (10, 3990, 4321):
        assert nearest_id(client, ids_ds, vectors[row]) == want_ids.column("id")[row].as_py()
    # Server-assigned ids continue after the restored ones.
    put_table(client, auto_ds, assigned_ids_table(3, rng, extra="new"))
    ids = sort_by_id(scan(client, auto_ds)).column("id").to_pylist()
    assert ids == list(range(653)), ids[-5:]
    wait_ready(client, ids_ds)


def test_snapshot_action_bad_input(server, ds):
    client = server.data
    with pytest.raises(NOT_FOUND, match="missing_snapshot_ds"):
        action(client, "snapshot", {"dataset": "missing_snapshot_ds"})
    with pytest.raises(INVALID_ARGUMENT, match="not valid JSON"):
        action(client, "snapshot", "{nope")
    with pytest.raises(INVALID_ARGUMENT, match="'dataset'.*must be a string"):
        action(client, "ForceSnapshot", {"dataset": 5})
    with pytest.raises(INVALID_ARGUMENT, match="unknown key 'datasett'"):
        action(client, "snapshot", {"datasett": ds})
    with pytest.raises(INVALID_ARGUMENT, match="bad name!"):
        action(client, "snapshot", {"dataset": "bad name!"})
    # The server keeps serving, and the alias works.
    put_table(client, ds, make_table(50))
    reply = action(server.meta, "ForceSnapshot", {"dataset": ds})
    assert [r["dataset"] for r in reply[0]["snapshot"]] == [ds]
    assert reply[0]["snapshot"][0]["rows"] == 50
    assert stats(client, ds)["snapshot_lsn"] == reply[0]["snapshot"][0]["lsn"]
    assert "snapshot" in [a.type for a in client.list_actions()]


def test_sigterm_snapshots_so_restart_replays_nothing(start_server):
    srv = start_server(NO_TRIGGERS)
    name = unique_name("term")
    table = make_table(3000, d=16)
    put_table(srv.data, name, table, batch_size=500)
    wait_ready(srv.data, name)
    assert srv.stop(signal.SIGTERM) == 0, srv.stderr_tail()
    assert f"snapshot of '{name}'" in srv.stderr(), srv.stderr_tail()
    srv.start()
    st = stats(srv.data, name)
    assert st["index_restored_rows"] == 3000 and st["snapshot_lsn"] > 0, st
    assert "1 from snapshots" in last_recovery(srv) and "0 rows replayed" in last_recovery(srv), \
        last_recovery(srv)
    assert_tables_equal(sort_by_id(scan(srv.data, name)), table, "after SIGTERM and restart")
    # The log segment written before the restart holds nothing the snapshot lacks: the next
    # checkpoint (the action checkpoints after an unchanged snapshot too) deletes it.
    assert len(list((srv.data_dir / "wal").glob("*.wal"))) == 2
    reply = action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"]
    assert reply[0]["seconds"] == 0 and reply[0]["lsn"] == st["snapshot_lsn"], reply
    assert len(list((srv.data_dir / "wal").glob("*.wal"))) == 1


@pytest.mark.parametrize("trigger", [
    {"ARBALEST_SNAPSHOT_WAL_BYTES": "64KiB", "ARBALEST_SNAPSHOT_INTERVAL": "0"},
    {"ARBALEST_SNAPSHOT_WAL_BYTES": "0", "ARBALEST_SNAPSHOT_INTERVAL": "200ms"},
], ids=["wal-bytes", "interval"])
def test_background_snapshot_triggers(start_server, trigger):
    srv = start_server(env=trigger)
    name = unique_name("bg")
    put_table(srv.data, name, make_table(2000, d=16), batch_size=500)  # about 160 KB of WAL
    st = wait_for_snapshot(srv.data, name)
    assert any(d.startswith(f"{name}@{st['snapshot_lsn']}-") for d in snapshot_dirs(srv))


def test_corrupt_snapshot_stops_startup_naming_the_file(start_server):
    srv = start_server(NO_TRIGGERS)
    name = unique_name("corrupt")
    put_table(srv.data, name, make_table(1000, d=16))
    lsn = action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"][0]["lsn"]
    srv.proc.kill()
    srv.proc.wait(10)
    srv.stop()
    [snapshot] = [d for d in snapshot_dirs(srv) if d.startswith(f"{name}@{lsn}-")]
    directory = srv.data_dir / "snapshots" / snapshot
    rows_file = json.loads((directory / "MANIFEST.json").read_text())["segments"][0][
        "files"]["rows"][0]
    data = directory / rows_file["name"]
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="exited with code 1"):
        srv.start(attempts=1)
    assert str(data) in srv.stderr(), srv.stderr_tail()
    assert "checksum" in srv.stderr(), srv.stderr_tail()


def test_dropped_dataset_with_a_half_removed_snapshot_still_starts(start_server):
    """A SIGKILL while an older build removed a dropped dataset's snapshot file by file left a
    directory without its data file; the WAL holds the drop, so startup removes the leftover
    instead of refusing to start, and the dataset created again under the name is intact."""
    srv = start_server(NO_TRIGGERS)
    name = unique_name("churn")
    put_table(srv.data, name, make_table(300, d=8))
    lsn = action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"][0]["lsn"]
    action(srv.data, "delete-dataset", {"dataset": name})
    again = make_table(40, d=12, start_id=1000)
    put_table(srv.data, name, again)
    srv.proc.kill()
    srv.proc.wait(10)
    srv.stop()
    [old] = [d for d in snapshot_dirs(srv) if d.startswith(f"{name}@{lsn}-")]
    directory = srv.data_dir / "snapshots" / old
    rows_file = json.loads((directory / "MANIFEST.json").read_text())["segments"][0][
        "files"]["rows"][0]
    (directory / rows_file["name"]).unlink()
    srv.start(attempts=1)
    assert_tables_equal(sort_by_id(scan(srv.data, {"dataset": name})), again)
    assert old not in snapshot_dirs(srv)
    assert "a damaged snapshot of dataset" in srv.stderr(), srv.stderr_tail()
