"""Segments over the wire: `--segment-max-bytes` seals a dataset's rows into several segments,
each with its own graph (stats report how many); searches across them agree with numpy's exact
top-k, with deletes and after a restart; a small dataset stays one segment; a bad value is
refused at startup by name.

Snapshots keep each segment's own files (persist/snapshot_format.h, version 4): a restart
after a SIGKILL maps every segment's graph and keeps the segment boundaries, rebuilding
nothing; the next snapshot hard-links the sealed segments' graph files and writes only the new
ones; a data directory of version 2 (one graph, tests/integration/data/snapshot_v2) opens as
one segment; a damaged graph file stops startup naming it.

Segments left small by deletes are merged in the background (`--segment-merge`, on by default)
to few while puts, deletes and searches go on, every live row found once, and nothing is lost
by a restart after merges; with `--segment-merge false` nothing merges.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import (METRIC_METADATA, ServerProcess, action, assert_tables_equal,
                           binary_path, fixture_rows, live_recall, make_table, manifest,
                           metric_data, put_table, scan, snapshot_dir, sort_by_id, stats,
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
    # The shutdown's snapshot kept one graph file per segment: the same segments come back.
    assert stats(srv.data, name)["segments"] == ROWS // 1_000
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == live.tolist()


def test_under_the_default_segment_size_a_dataset_is_one_segment(start_server):
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


NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
               "--compact-deleted-fraction", "0"]


def graph_inodes(snapshot: Path) -> list[tuple[str, int]]:
    return [(s["graph"]["name"], os.stat(snapshot / s["graph"]["name"]).st_ino)
            for s in manifest(snapshot)["segments"]]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_a_restart_maps_every_segment_graph_and_keeps_the_boundaries(tmp_path, metric):
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", str(SEGMENT_BYTES)])
    srv.start()
    name = unique_name("kept")
    table, vectors, queries = metric_data(ROWS, DIM, metric, seed=11)
    put_table(srv.data, name, table, batch_size=BATCH)
    wait_indexed(srv.data, name)
    doomed = np.arange(3, ROWS, 5)
    assert action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})[0]["deleted"] \
        == len(doomed)
    live = np.setdiff1d(np.arange(ROWS), doomed)
    action(srv.data, "snapshot", {"dataset": name})
    first = snapshot_dir(srv, name)
    written = manifest(first)
    assert written["format_version"] == 6
    bounds = [(s["first_row"], s["rows"]) for s in written["segments"]]
    assert bounds == [(row, 1_000) for row in range(0, ROWS, 1_000)]
    assert all(s["linked_rows"] == s["rows"] for s in written["segments"])
    before = graph_inodes(first)

    srv.stop(signal.SIGKILL)
    srv.start()
    wait_indexed(srv.data, name)
    after = stats(srv.data, name)
    assert after["segments"] == ROWS // 1_000
    # Every row's graph was mapped, none rebuilt.
    assert after["index_restored_rows"] == ROWS, after
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95
    ids = scan(srv.data, name).column("id").to_pylist()
    assert sorted(ids) == live.tolist()  # every live row exactly once

    # Rows after the restart go to the active segment, which seals as usual; the next snapshot
    # links the sealed segments' graph files (the same inodes) and writes the new ones.
    more = make_table(1_500, DIM, start_id=ROWS, rng=np.random.default_rng(13))
    if METRIC_METADATA[metric]:
        more = more.replace_schema_metadata(METRIC_METADATA[metric])
    put_table(srv.data, name, more, batch_size=BATCH)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == ROWS // 1_000 + 2
    action(srv.data, "snapshot", {"dataset": name})
    second = snapshot_dir(srv, name)
    assert second != first and not first.exists()
    now = graph_inodes(second)
    assert now[: len(before)] == before, (now, before)
    assert {n for n, _ in now[len(before):]}.isdisjoint({n for n, _ in before})
    assert [(s["first_row"], s["rows"]) for s in manifest(second)["segments"]] == \
        bounds + [(ROWS, 1_000), (ROWS + 1_000, 500)]

    # And from that snapshot again, with the rows after it in the log.
    put_table(srv.data, name, make_table(100, DIM, start_id=ROWS + 1_500,
                                         rng=np.random.default_rng(14)).replace_schema_metadata(
                                             METRIC_METADATA[metric]))
    srv.stop(signal.SIGKILL)
    srv.start()
    wait_indexed(srv.data, name)
    again = stats(srv.data, name)
    assert again["segments"] == ROWS // 1_000 + 2
    assert again["index_restored_rows"] == ROWS + 1_500, again
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == \
        live.tolist() + list(range(ROWS, ROWS + 1_600))


V2_FIXTURE = Path(__file__).parent / "data" / "snapshot_v2"


def test_a_data_dir_of_format_version_2_opens_as_one_segment_per_dataset(tmp_path):
    expected = json.loads((V2_FIXTURE / "expected.json").read_text())
    shutil.copytree(V2_FIXTURE / "data", tmp_path / "data")
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", "4KiB"]).start()
    for name in ("docs", "cos"):  # euclidean, cosine
        old = snapshot_dir(srv, name)
        assert manifest(old)["format_version"] == 2
        assert_tables_equal(sort_by_id(scan(srv.data, name)), fixture_rows(expected, name),
                            f"{name} after the upgrade")
        loaded = stats(srv.data, name)
        # The snapshot's 500 rows in one segment, its graph mapped; the log's 50 in the next
        # (4 KiB: the snapshot's segment is full).
        assert loaded["index_restored_rows"] == 500, loaded
        assert loaded["segments"] == 2, loaded
        action(srv.data, "snapshot", {"dataset": name})
        new = snapshot_dir(srv, name)
        written = manifest(new)
        assert written["format_version"] == 6
        assert [(s["first_row"], s["rows"]) for s in written["segments"]] == [(0, 500), (500, 50)]
        # The first snapshot after the upgrade writes each segment's own files once.
        assert [s["id"] for s in written["segments"]] == [0, 1]
        assert not (new / "index.hnsw").exists()
    srv.stop(signal.SIGKILL)
    srv.start()
    for name in ("docs", "cos"):
        assert sorted(scan(srv.data, name).column("id").to_pylist()) == expected["ids"][name]
        assert stats(srv.data, name)["index_restored_rows"] == 550


def test_a_damaged_segment_graph_file_stops_startup_naming_it(tmp_path):
    srv = ServerProcess(tmp_path, NO_TRIGGERS + ["--segment-max-bytes", str(SEGMENT_BYTES)])
    srv.start()
    name = unique_name("damaged")
    put_table(srv.data, name, make_table(3_000, DIM), batch_size=BATCH)
    wait_indexed(srv.data, name)
    action(srv.data, "snapshot", {"dataset": name})
    srv.stop(signal.SIGKILL)
    snapshot = snapshot_dir(srv, name)
    target = snapshot / manifest(snapshot)["segments"][1]["graph"]["name"]
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="exited with code 1"):
        srv.start(attempts=1)
    assert str(target) in srv.stderr(), srv.stderr_tail()
    assert "checksum" in srv.stderr(), srv.stderr_tail()

def _put_small_segments(srv, name, seed):
    """ROWS rows sealed into 6 segments of 1,000 (the last one active), all linked, then 70% of
    the rows of the five sealed ones deleted: 300 live rows each, which fit the segment size
    three at a time. Returns the vectors and the live ids."""
    table = make_table(ROWS, DIM, rng=np.random.default_rng(seed))
    put_table(srv.data, name, table, batch_size=BATCH)
    wait_indexed(srv.data, name)
    assert stats(srv.data, name)["segments"] == 6
    doomed = np.array([i for i in range(5_000) if i % 10 < 7])
    action(srv.data, "delete", {"dataset": name, "ids": doomed.tolist()})
    return vectors_of(table.column("vector")), np.setdiff1d(np.arange(ROWS), doomed)


def test_small_segments_are_merged_while_puts_deletes_and_searches_go_on(start_server):
    srv = start_server(["--segment-max-bytes", str(SEGMENT_BYTES),
                        "--compact-deleted-fraction", "0"])
    name = unique_name("merged")
    vectors, live = _put_small_segments(srv, name, seed=8)
    queries = np.random.default_rng(9).standard_normal((40, DIM)).astype(np.float32)

    # Meanwhile: puts of new rows and deletes in old and new segments, from another client.
    # The new rows lie far from the queries, so that the rows a search must find do not depend
    # on how far the puts have got.
    extra = make_table(2_000, DIM, start_id=ROWS, rng=np.random.default_rng(10))
    far = vectors_of(extra.column("vector")) + 100.0
    extra = extra.set_column(extra.schema.get_field_index("vector"), extra.schema.field("vector"),
                             pa.FixedSizeListArray.from_arrays(pa.array(far.ravel()), DIM))
    all_vectors = np.concatenate([vectors, far])
    gone = []
    failures = []

    def writer():
        try:
            client = srv.connect()
            for first in range(0, 2_000, BATCH):
                put_table(client, name, extra.slice(first, BATCH))
                ids = [ROWS + first + 3, 5_000 + first // BATCH]
                action(client, "delete", {"dataset": name, "ids": ids})
                gone.extend(ids)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():  # searches meanwhile find the live rows
        allowed = np.setdiff1d(np.concatenate([live, np.arange(ROWS, ROWS + 2_000)]), gone)
        assert live_recall(srv.data, name, all_vectors, allowed, queries) >= 0.9
    thread.join()
    assert not failures, failures
    wait_indexed(srv.data, name)
    # The 5 sealed segments of 300 live rows merge to 900 + 600 (the smallest first, into its
    # larger neighbour: store/merge_policy.h); the other three hold about 1,000 live rows each.
    deadline = time.monotonic() + 60
    while stats(srv.data, name)["segments"] > 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stats(srv.data, name)["segments"] == 5

    all_live = np.setdiff1d(np.concatenate([live, np.arange(ROWS, ROWS + 2_000)]), gone)
    assert live_recall(srv.data, name, all_vectors, all_live, queries) >= 0.95
    ids = scan(srv.data, name).column("id").to_pylist()
    assert sorted(ids) == all_live.tolist()  # every live row exactly once

    assert srv.stop() == 0  # a restart after merges loses nothing
    srv.start()
    wait_indexed(srv.data, name)
    assert live_recall(srv.data, name, all_vectors, all_live, queries) >= 0.95
    assert sorted(scan(srv.data, name).column("id").to_pylist()) == all_live.tolist()


def test_with_merging_off_nothing_merges(start_server):
    srv = start_server(["--segment-max-bytes", str(SEGMENT_BYTES),
                        "--compact-deleted-fraction", "0", "--segment-merge", "false"])
    name = unique_name("unmerged")
    vectors, live = _put_small_segments(srv, name, seed=11)
    # An indexing turn of a dataset of several segments is what asks the merge thread.
    more = make_table(BATCH, DIM, start_id=ROWS, rng=np.random.default_rng(12))
    put_table(srv.data, name, more)
    wait_indexed(srv.data, name)
    time.sleep(2)  # merging on, they would be 5 by now (the test above merges in about 1 s)
    assert stats(srv.data, name)["segments"] == 7  # the batch sealed the sixth
    queries = np.random.default_rng(13).standard_normal((20, DIM)).astype(np.float32)
    assert live_recall(srv.data, name, np.concatenate([vectors, vectors_of(more.column("vector"))]),
                       np.concatenate([live, np.arange(ROWS, ROWS + BATCH)]), queries) >= 0.95
