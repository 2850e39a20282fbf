"""Each segment's own files (snapshot formats 4 and 5, persist/snapshot_format.h): a snapshot
after the `compact` action compacted one segment of ten writes only that segment's files and
hard-links every other segment's rows, vectors and graph files (the same inodes), whose first
rows the manifest records afresh; after a SIGKILL the restart maps every graph (nothing
reindexed), scans every live row exactly once and searches with numpy's recall. A data
directory of version 3 (one vectors file, one graph file per segment; written by the previous
build, tests/integration/data/snapshot_v3) opens, and its first snapshot writes the segments'
own files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from arbalest_util import (METRIC_METADATA, ServerProcess, action, assert_tables_equal,
                           fixture_rows, live_recall, manifest, metric_data, put_table, scan,
                           snapshot_dir, sort_by_id, stats, unique_name, wait_indexed)

DIM = 16
SEGMENT_ROWS = 1_000
SEGMENTS = 10
ROWS = SEGMENT_ROWS * SEGMENTS
NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
               "--compact-deleted-fraction", "0"]
SEGMENT_FLAGS = ["--segment-max-bytes", str(SEGMENT_ROWS * DIM * 4), "--segment-merge", "false"]


def inodes(snapshot: Path) -> dict[str, tuple[int, int]]:
    """Every file of the snapshot but its manifest: name -> (inode, bytes)."""
    return {p.name: (p.stat().st_ino, p.stat().st_size) for p in snapshot.iterdir()
            if p.name != "MANIFEST.json"}


def segment_files(snapshot: Path) -> list[dict[str, int]]:
    """Per segment of a version-4 manifest: its graph, rows and vectors files -> inode."""
    files = []
    for segment in manifest(snapshot)["segments"]:
        names = [segment["graph"]["name"], segment["files"]["vectors"]["name"]]
        names += [f["name"] for f in segment["files"]["rows"]]
        files.append({n: os.stat(snapshot / n).st_ino for n in names})
    return files


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_compacting_one_segment_of_ten_rewrites_only_its_files(tmp_path, metric):
    srv = ServerProcess(tmp_path, NO_TRIGGERS + SEGMENT_FLAGS).start()
    name = unique_name("segfiles")
    table, vectors, queries = metric_data(ROWS, DIM, metric, seed=21)
    put_table(srv.data, name, table, batch_size=SEGMENT_ROWS // 2)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == SEGMENTS
    action(srv.data, "snapshot", {"dataset": name})
    first = snapshot_dir(srv, name)
    before = inodes(first)

    # 30% of segment 3's rows deleted, the `compact` action, a snapshot.
    doomed = np.array([i for i in range(3_000, 4_000) if i % 10 < 3])
    assert action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0]["deleted"] \
        == len(doomed)
    assert action(srv.data, "compact", {"dataset": name})[0]["reclaimed_rows"] == len(doomed)
    live = np.setdiff1d(np.arange(ROWS), doomed)
    action(srv.data, "snapshot", {"dataset": name})
    second = snapshot_dir(srv, name)
    assert second != first and not first.exists()
    after = inodes(second)
    old_inodes = {inode for inode, _ in before.values()}
    new_bytes = sum(size for inode, size in after.values() if inode not in old_inodes)
    total = sum(size for _, size in after.values())
    # Only the compacted segment (a tenth of the rows) is written again: the other nine
    # segments' files are the first snapshot's.
    assert new_bytes < 0.2 * total, (new_bytes, total, sorted(after))

    written = manifest(second)
    assert written["format_version"] == 6
    now = segment_files(second)
    assert len(now) == SEGMENTS
    first_files = {(n, inode) for n, (inode, _) in before.items()}
    for s, files in enumerate(now):
        linked = {n: inode for n, inode in files.items() if (n, inode) in first_files}
        if s == 3:
            assert not linked, (s, files)
        else:
            assert linked == files, (s, files)
    firsts = [seg["first_row"] for seg in written["segments"]]
    assert firsts == [s * SEGMENT_ROWS - (len(doomed) if s > 3 else 0) for s in range(SEGMENTS)]
    assert written["segments"][3]["rows"] == SEGMENT_ROWS - len(doomed)

    srv.stop(signal.SIGKILL)
    srv.start()
    wait_indexed(srv.data, name)
    restored = stats(srv.data, name)
    assert restored["segments"] == SEGMENTS
    assert restored["index_restored_rows"] == len(live), restored  # every graph mapped
    ids = scan(srv.data, name).column("id").to_pylist()
    assert sorted(ids) == live.tolist()  # every live row exactly once
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95


V3_FIXTURE = Path(__file__).parent / "data" / "snapshot_v3"


def test_a_data_dir_of_format_version_3_opens_and_its_next_snapshot_writes_segment_files(
        tmp_path):
    expected = json.loads((V3_FIXTURE / "expected.json").read_text())
    shutil.copytree(V3_FIXTURE / "data", tmp_path / "data")
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", expected["segment_bytes"],
                                                 "--segment-merge", "false"]).start()
    indexed = {}
    for name in METRIC_METADATA:  # "euclidean" and "cosine"
        old = snapshot_dir(srv, name)
        old_manifest = manifest(old)
        assert old_manifest["format_version"] == 3
        assert_tables_equal(sort_by_id(scan(srv.data, name)), fixture_rows(expected, name),
                            f"{name} after the upgrade")
        loaded = stats(srv.data, name)
        assert loaded["index_restored_rows"] == old_manifest["indexed_rows"], loaded
        bounds = [(s["first_row"], s["rows"]) for s in old_manifest["segments"]]
        assert len(bounds) >= 2
        action(srv.data, "snapshot", {"dataset": name})
        written = manifest(snapshot_dir(srv, name))
        assert written["format_version"] == 6
        # The sealed segments as they were; the log's rows went to the last one (not full: a
        # compaction took a row from it), which seals as usual.
        now = [(s["first_row"], s["rows"]) for s in written["segments"]]
        assert now[: len(bounds) - 1] == bounds[:-1]
        assert now[len(bounds) - 1][0] == bounds[-1][0]
        assert written["rows"] == old_manifest["rows"] + expected["puts"][-1][0]
        assert all("files" in s for s in written["segments"])
        indexed[name] = written["indexed_rows"]
    srv.stop(signal.SIGKILL)
    srv.start()
    for name in METRIC_METADATA:
        assert sorted(scan(srv.data, name).column("id").to_pylist()) == expected["ids"][name]
        wait_indexed(srv.data, name)
        assert stats(srv.data, name)["index_restored_rows"] == indexed[name]
