"""Incremental snapshots through the server: a data directory written by a build before them
(snapshot format version 1, tests/integration/data/snapshot_v1) opens with every row and
delete, the first snapshot after the upgrade writes the new layout and removes the old
directory; snapshots after it write only the rows added; a snapshot that fails after
appending to the shared vectors file leaves the previous one whole; damage to the new files is
named, with their segment."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import pyarrow.flight as flight

from arbalest_util import (ServerProcess, action, assert_tables_equal, make_table, put_table,
                           scan, sort_by_id, unique_name)
from io_faults import IoFaults

NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
               "--compact-deleted-fraction", "0"]
FIXTURE = Path(__file__).parent / "data" / "snapshot_v1"


def snapshot_dirs(srv: ServerProcess, dataset: str) -> list[Path]:
    root = srv.data_dir / "snapshots"
    return sorted(p for p in root.iterdir() if p.name.startswith(f"{dataset}@")
                  and not p.name.endswith((".tmp", ".trash")))


def manifest(snapshot: Path) -> dict:
    return json.loads((snapshot / "MANIFEST.json").read_text())


def files_of(written: dict) -> dict:
    """The files of a version-4 manifest's one segment: its rows files and vectors file."""
    [segment] = written["segments"]
    return segment["files"]


def nearest_id(client, name, vector) -> int:
    ticket = {"search": {"dataset": name, "vector": [float(x) for x in vector], "k": 1}}
    return scan(client, ticket).column("id")[0].as_py()


def test_a_data_dir_of_format_version_1_opens_and_is_upgraded_by_the_next_snapshot(tmp_path):
    expected = json.loads((FIXTURE / "expected.json").read_text())
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    rows = pa.concat_tables([make_table(n, 8, start_id=start) for n, start in expected["puts"]])
    want = sort_by_id(rows.filter(pc.is_in(rows.column("id"), pa.array(expected["ids"]))))

    srv = ServerProcess(tmp_path, NO_TRIGGERS).start()
    [old] = snapshot_dirs(srv, "docs")
    assert manifest(old)["format_version"] == 1
    assert "from snapshots" in srv.stderr(), srv.stderr_tail()
    assert_tables_equal(sort_by_id(scan(srv.data, "docs")), want, "after the upgrade")
    vector = rows.column("vector")[42].values.to_numpy()
    assert nearest_id(srv.data, "docs", vector) == 42  # the mapped version-1 graph

    action(srv.data, "snapshot", {"dataset": "docs"})
    [new] = snapshot_dirs(srv, "docs")
    assert new != old and not old.exists()
    written = manifest(new)
    assert written["format_version"] == 6
    assert [f["rows"] for f in files_of(written)["rows"]] == [550]
    assert files_of(written)["vectors"]["rows"] == 550
    assert not (new / "data.parquet").exists()

    # More rows, a snapshot that appends only them, a SIGKILL and a restart from it.
    put_table(srv.data, "docs", make_table(30, 8, start_id=2000))
    action(srv.data, "snapshot", {"dataset": "docs"})
    [newer] = snapshot_dirs(srv, "docs")
    files = files_of(manifest(newer))
    assert [(f["first_row"], f["rows"]) for f in files["rows"]] == [(0, 550), (550, 30)]
    assert (newer / files["rows"][0]["name"]).stat().st_nlink == 1  # the old link went
    assert len(files["vectors"]["chunks"]) == 2
    want = sort_by_id(pa.concat_tables([want, make_table(30, 8, start_id=2000)]))
    srv.stop(signal.SIGKILL)
    srv.start()
    assert "from snapshots" in srv.stderr(), srv.stderr_tail()
    assert_tables_equal(sort_by_id(scan(srv.data, "docs")), want, "after the restart")
    assert nearest_id(srv.data, "docs", vector) == 42


@pytest.mark.parametrize("damage", ["vectors truncated", "vectors corrupt", "rows corrupt"])
def test_damaged_new_files_stop_startup_naming_the_file(tmp_path, damage):
    srv = ServerProcess(tmp_path, NO_TRIGGERS).start()
    name = unique_name("damaged")
    put_table(srv.data, name, make_table(500, d=16))
    action(srv.data, "snapshot", {"dataset": name})
    srv.stop(signal.SIGKILL)
    [snapshot] = snapshot_dirs(srv, name)
    files = files_of(manifest(snapshot))
    target = snapshot / (files["vectors"]["name"] if damage.startswith("vectors")
                         else files["rows"][0]["name"])
    raw = bytearray(target.read_bytes())
    if damage.endswith("truncated"):
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="exited with code 1"):
        srv.start(attempts=1)
    assert str(target) in srv.stderr(), srv.stderr_tail()
    assert ("truncated" if damage.endswith("truncated") else "checksum") in srv.stderr(), (
        srv.stderr_tail())
    assert "segment 0 (seg-0)" in srv.stderr(), srv.stderr_tail()


@pytest.mark.parametrize("ops", ["fsync", "rename"])
def test_a_snapshot_failing_after_its_append_leaves_the_previous_one_whole(tmp_path, ops):
    """The failed snapshot appended the new rows' vectors to the vectors file the previous
    snapshot links, then could not be made durable or put in place: the previous snapshot still
    loads after a SIGKILL (the bytes past its recorded length are ignored), and the next
    snapshot cuts them off and appends again."""
    workdir = tmp_path / "node"
    faults = IoFaults(workdir, ops=ops, path="/snapshots/", errno="EIO")
    srv = ServerProcess(workdir, NO_TRIGGERS, env=faults.env()).start()
    first, second = make_table(400, d=16), make_table(100, d=16, start_id=400)
    put_table(srv.data, "ds", first)
    action(srv.data, "snapshot", {"dataset": "ds"})
    [previous] = snapshot_dirs(srv, "ds")
    vectors = previous / files_of(manifest(previous))["vectors"]["name"]
    assert vectors.stat().st_size == 400 * 16 * 4
    put_table(srv.data, "ds", second)
    with faults.armed():
        with pytest.raises(flight.FlightError, match="snapshot of dataset 'ds' failed"):
            action(srv.data, "snapshot", {"dataset": "ds"})
    assert IoFaults.injected(srv)
    assert snapshot_dirs(srv, "ds") == [previous]
    assert vectors.stat().st_size == 500 * 16 * 4  # appended, never committed
    srv.stop(signal.SIGKILL)
    srv = ServerProcess(workdir, NO_TRIGGERS).start()
    want = sort_by_id(pa.concat_tables([first, second]))
    assert_tables_equal(sort_by_id(scan(srv.data, "ds")), want, "from the previous snapshot")
    assert "from snapshots" in srv.stderr(), srv.stderr_tail()
    put_table(srv.data, "ds", make_table(10, d=16, start_id=500))
    action(srv.data, "snapshot", {"dataset": "ds"})
    [latest] = snapshot_dirs(srv, "ds")
    files = files_of(manifest(latest))
    assert (latest / files["vectors"]["name"]).stat().st_size == 510 * 16 * 4
    assert len(files["vectors"]["chunks"]) == 2
    srv.stop(signal.SIGKILL)
    srv = ServerProcess(workdir, NO_TRIGGERS).start()
    want = sort_by_id(pa.concat_tables([want, make_table(10, d=16, start_id=500)]))
    assert_tables_equal(sort_by_id(scan(srv.data, "ds")), want, "from the latest snapshot")
    srv.stop()
