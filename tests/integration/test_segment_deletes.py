"""Deleted rows per segment (snapshot format version 5, persist/snapshot_format.h) over the
wire: a snapshot after deletes in one segment of ten writes that segment's deleted-rows file
and hard-links the others' (no dataset-wide tombstones file); after a SIGKILL the restart
leaves out every deleted row. A merge logs nothing, yet the next snapshot writes the merged
segments (a layout generation in the directory name), so a restart maps the merged segment
instead of the pre-merge ones. A data directory of version 4 (one tombstones file; written by
the previous build, tests/integration/data/snapshot_v4) opens with every deleted row left
out, and its next snapshot writes version 5.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np

from arbalest_util import (METRIC_METADATA, ServerProcess, action, assert_tables_equal,
                           fixture_rows, make_table, manifest, put_table, scan, snapshot_dir,
                           sort_by_id, stats, unique_name, wait_indexed)

DIM = 8
SEGMENT_ROWS = 500
SEGMENTS = 10
ROWS = SEGMENT_ROWS * SEGMENTS
NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
               "--compact-deleted-fraction", "0"]
SEGMENT_BYTES = str(SEGMENT_ROWS * DIM * 4)


def deleted_files(snapshot: Path) -> dict[str, int]:
    """The snapshot's deleted-rows files: name -> inode."""
    return {p.name: p.stat().st_ino for p in snapshot.iterdir() if "-deleted-" in p.name}


def delete(srv, name, ids):
    assert action(srv.data, "delete", {"dataset": name, "ids": ids})[0]["deleted"] == len(ids)


def test_deletes_in_one_segment_of_ten_rewrite_only_its_deleted_rows_file(tmp_path):
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", SEGMENT_BYTES,
                                                 "--segment-merge", "false"]).start()
    name = unique_name("segdel")
    put_table(srv.data, name, make_table(ROWS, DIM, rng=np.random.default_rng(3)),
              batch_size=SEGMENT_ROWS // 2)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == SEGMENTS
    delete(srv, name, [1_005, 7_000 // 2 + 1])  # segments 2 and 7
    action(srv.data, "snapshot", {"dataset": name})
    first = snapshot_dir(srv, name)
    assert not (first / "tombstones.roaring").exists()
    before = deleted_files(first)
    assert sorted(before) == ["seg-2-deleted-1.roaring", "seg-7-deleted-1.roaring"]

    delete(srv, name, [3_750, 3_751])  # segment 7 only
    action(srv.data, "snapshot", {"dataset": name})
    second = snapshot_dir(srv, name)
    assert second != first
    after = deleted_files(second)
    assert sorted(after) == ["seg-2-deleted-1.roaring", "seg-7-deleted-3.roaring"]
    assert after["seg-2-deleted-1.roaring"] == before["seg-2-deleted-1.roaring"]  # linked
    written = manifest(second)
    assert written["format_version"] == 6 and "tombstones" not in written["files"]
    counts = [s["files"].get("deleted", {}).get("rows", 0) for s in written["segments"]]
    assert counts == [0, 0, 1, 0, 0, 0, 0, 3, 0, 0]

    srv.stop(signal.SIGKILL)
    srv.start()
    live = sorted(set(range(ROWS)) - {1_005, 3_501, 3_750, 3_751})
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == live
    assert stats(srv.data, name)["deleted_rows"] == 4


def test_a_merge_alone_is_snapshotted_and_a_restart_maps_the_merged_segment(tmp_path):
    no_merge = NO_TRIGGERS + ["--segment-max-bytes", SEGMENT_BYTES, "--segment-merge", "false"]
    srv = ServerProcess(tmp_path, no_merge).start()
    name = unique_name("merged")
    put_table(srv.data, name, make_table(ROWS, DIM, rng=np.random.default_rng(4)),
              batch_size=SEGMENT_ROWS // 2)
    wait_indexed(srv.data, name)
    # Segments 3 and 4 left at 100 rows each: the merge policy's pick once merging is on.
    doomed = [i for i in range(1_500, 2_500) if i % 5 != 0]
    delete(srv, name, doomed)
    assert action(srv.data, "compact", {"dataset": name})[0]["reclaimed_rows"] == len(doomed)
    delete(srv, name, [1_505])  # a deleted row in a segment to merge
    action(srv.data, "snapshot", {"dataset": name})
    before = snapshot_dir(srv, name)
    assert len(manifest(before)["segments"]) == SEGMENTS
    srv.stop(signal.SIGKILL)

    # Merging on: the merge thread merges at startup, logging nothing.
    srv.extra_args = NO_TRIGGERS + ["--segment-max-bytes", SEGMENT_BYTES, "--segment-merge", "true"]
    srv.start()
    deadline = time.monotonic() + 60
    while stats(srv.data, name)["segments"] == SEGMENTS and time.monotonic() < deadline:
        time.sleep(0.1)
    merged = stats(srv.data, name)["segments"]
    assert merged == SEGMENTS - 1
    action(srv.data, "snapshot", {"dataset": name})  # only the merge since the last one
    after = snapshot_dir(srv, name)
    assert after != before and not before.exists()
    # Layout generation 2: the compaction (durable with a snapshot, not logged) and the merge.
    assert after.name.endswith("-2")
    assert len(manifest(after)["segments"]) == merged
    assert manifest(after)["layout"] == 2
    srv.stop(signal.SIGKILL)

    # Merging off again: the restart maps the merged segment (the snapshot holds it).
    srv.extra_args = no_merge
    srv.start()
    restored = stats(srv.data, name)
    assert restored["segments"] == merged
    assert restored["index_restored_rows"] == restored["rows"] + restored["deleted_rows"]
    live = sorted(set(range(ROWS)) - set(doomed) - {1_505})
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == live
    action(srv.data, "snapshot", {"dataset": name})  # nothing changed since: the same one
    assert snapshot_dir(srv, name) == after


V4_FIXTURE = Path(__file__).parent / "data" / "snapshot_v4"


def test_a_data_dir_of_format_version_4_opens_and_its_next_snapshot_writes_the_current_one(tmp_path):
    expected = json.loads((V4_FIXTURE / "expected.json").read_text())
    shutil.copytree(V4_FIXTURE / "data", tmp_path / "data")
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", expected["segment_bytes"],
                                                 "--segment-merge", "false"]).start()
    for name in METRIC_METADATA:  # "euclidean" and "cosine"
        old = snapshot_dir(srv, name)
        old_manifest = manifest(old)
        assert old_manifest["format_version"] == 4
        assert "tombstones" in old_manifest["files"]
        old_files = {p.name: p.stat().st_ino for p in old.iterdir()}
        assert_tables_equal(sort_by_id(scan(srv.data, name)), fixture_rows(expected, name),
                            f"{name} after the upgrade")
        assert stats(srv.data, name)["index_restored_rows"] == old_manifest["indexed_rows"]
        action(srv.data, "snapshot", {"dataset": name})
        new = snapshot_dir(srv, name)
        written = manifest(new)
        assert written["format_version"] == 6
        assert not (new / "tombstones.roaring").exists()
        # Ids 6 (row 5 of segment 0 after the compaction) and 7 (from the log) are deleted.
        assert [s["files"].get("deleted", {}).get("rows", 0) for s in written["segments"]][0] == 2
        # The upgrade continues the version-4 segments' files: the sealed ones are linked.
        sealed = written["segments"][1]
        for file in [sealed["graph"]["name"], sealed["files"]["vectors"]["name"]]:
            assert os.stat(new / file).st_ino == old_files.get(file), file
    srv.stop(signal.SIGKILL)
    srv.start()
    for name in METRIC_METADATA:
        assert sorted(scan(srv.data, name).column("id").to_pylist()) == expected["ids"][name]
