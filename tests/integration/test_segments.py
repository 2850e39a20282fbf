"""Segments over the wire: `--segment-max-bytes` seals a dataset's rows into several segments,
each with its own graph (stats report how many); searches across them agree with numpy's exact
top-k, with deletes and after a restart (which may cut the segments again); without the flag a
dataset stays one segment; a bad value is refused at startup by name. Segments left small by
deletes are merged in the background (`--segment-merge`, on by default) to few while puts,
deletes and searches go on, every live row found once, and nothing is lost by a restart after
merges; with `--segment-merge false` nothing merges.
"""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import pyarrow as pa

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
