"""Segments over the wire: `--segment-max-bytes` seals a dataset's rows into several segments,
each with its own graph (stats report how many); searches across them agree with numpy's exact
top-k, with deletes and after a restart (which may cut the segments again); without the flag a
dataset stays one segment; a bad value is refused at startup by name.
"""

from __future__ import annotations

import subprocess

import numpy as np

from arbalest_util import (action, binary_path, live_recall, make_table, put_table, scan, stats,
                           unique_name, vectors_of, wait_indexed)

DIM = 16
ROWS = 6_000
BATCH = 500
# 1,000 rows of 16 float32: a segment is sealed every two 500-row puts.
SEGMENT_BYTES = 1_000 * DIM * 4


def test_sealed_segments_search_like_brute_force_before_and_after_a_restart(start_server):
    srv = start_server(["--segment-max-bytes", str(SEGMENT_BYTES),
                        "--compact-deleted-fraction", "0"])
    name = unique_name("segments")
    table = make_table(ROWS, DIM, rng=np.random.default_rng(5))
    vectors = vectors_of(table.column("vector"))
    put_table(srv.data, name, table, batch_size=BATCH)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == ROWS // 1_000

    doomed = np.arange(0, ROWS, 7)
    deleted = action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0]
    assert deleted["deleted"] == len(doomed)
    live = np.setdiff1d(np.arange(ROWS), doomed)
    queries = np.random.default_rng(6).standard_normal((40, DIM)).astype(np.float32)
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == live.tolist()

    assert srv.stop() == 0
    srv.start()
    wait_indexed(srv.data, name)
    # A restart cuts segments again at the loaded batches' boundaries, and a snapshot's rows
    # come back as a few large batches: fewer, larger segments until snapshots keep one graph
    # per segment (docs/storage.md).
    assert 1 <= stats(srv.data, name)["segments"] <= ROWS // 1_000
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == live.tolist()


def test_without_the_flag_a_dataset_is_one_segment(start_server):
    srv = start_server()
    name = unique_name("one_segment")
    put_table(srv.data, name, make_table(ROWS, DIM, rng=np.random.default_rng(7)),
              batch_size=BATCH)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == 1


def test_a_bad_segment_size_is_refused_at_startup(tmp_path):
    done = subprocess.run([str(binary_path()), "serve", "--data-dir", str(tmp_path / "data"),
                           "--segment-max-bytes", "lots"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "--segment-max-bytes" in done.stderr + done.stdout
