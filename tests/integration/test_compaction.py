"""Compaction over the wire: the `compact` action reclaims deleted rows (stats, memory and
metrics drop), scans return exactly the live rows, searches agree with numpy over the live rows,
ids still resolve for VectorSearchByID and delete, the background trigger, and restarts after a
compaction (clean, and SIGKILL before any snapshot: the compaction is not logged, so the restart
replays the rows uncompacted with every acked change).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, live_recall, make_table,
                           put_table, scan, scrape, search_ids, stats, unique_name, value,
                           vectors_of, wait_indexed, wait_until)

DIM = 16


def delete(client, name, ids) -> int:
    return action(client, "delete", {"dataset": name, "ids": [int(i) for i in ids]})[0]["deleted"]


def compact(client, name) -> dict:
    results = action(client, "compact", {"dataset": name})
    assert len(results) == 1, results
    return results[0]


def ids_of(client, name) -> list:
    return scan(client, name).column("id").to_pylist()


def test_compact_reclaims_deleted_rows_and_keeps_every_live_row(start_server):
    # Compactions only when asked; bytes are compared exactly below, so the rows do not share
    # their vectors with the graph (which re-cuts the batches after the compaction).
    srv = start_server(["--compact-deleted-fraction", "0", "--keep-vector-copies"])
    name = unique_name("compact")
    n = 12_000
    table = make_table(n, DIM, rng=np.random.default_rng(21))
    vectors = vectors_of(table.column("vector"))
    put_table(srv.data, name, table, batch_size=1000)
    wait_indexed(srv.data, name)
    rng = np.random.default_rng(22)
    doomed = np.sort(rng.choice(n, size=int(0.3 * n), replace=False))
    assert delete(srv.data, name, doomed) == len(doomed)
    live = np.setdiff1d(np.arange(n), doomed)
    before = stats(srv.data, name)
    memory_before = action(srv.data, "stats")[0]["memory_used_bytes"]
    assert before["deleted_rows"] == len(doomed)

    result = compact(srv.data, name)
    assert result["dataset"] == name
    assert result["reclaimed_rows"] == len(doomed)
    assert result["rows"] == len(live)
    assert result["reclaimed_bytes"] > 0
    after = stats(srv.data, name)
    assert (after["rows"], after["deleted_rows"]) == (len(live), 0)
    assert after["compactions"] == 1 and after["reclaimed_rows"] == len(doomed)
    assert after["bytes"] == before["bytes"] - result["reclaimed_bytes"]
    assert after["bytes"] < 0.75 * before["bytes"]
    assert after["index_bytes"] < before["index_bytes"]
    assert after["batches"] < before["batches"]  # what deletes left small was coalesced
    # --max-memory's budget holds the rows and their indexes: both shrank.
    memory_after = action(srv.data, "stats")[0]["memory_used_bytes"]
    assert memory_after == after["bytes"] + after["index_bytes"]
    assert memory_after <= memory_before - result["reclaimed_bytes"]
    samples = scrape(srv)
    assert value(samples, "arbalest_compactions_total") == 1
    assert value(samples, "arbalest_compacted_rows_total") == len(doomed)
    assert value(samples, "arbalest_deleted_rows") == 0

    assert sorted(ids_of(srv.data, name)) == live.tolist()
    wait_indexed(srv.data, name)
    queries = np.random.default_rng(23).standard_normal((40, DIM)).astype(np.float32)
    assert live_recall(srv.data, name, vectors, live, queries) >= 0.95
    # Ids resolve to their renumbered rows: search by id, and delete.
    row = int(live[len(live) // 2])
    by_id = action(srv.data, "VectorSearchByID", {"dataset": name, "id": row, "k": 5})[0]
    others = live[live != row]
    expected = others[np.argsort(np.linalg.norm(vectors[others] - vectors[row], axis=1))[:5]]
    assert by_id["ids"] == expected.tolist()
    assert delete(srv.data, name, [row, int(doomed[0])]) == 1
    assert row not in ids_of(srv.data, name)
    assert compact(srv.data, name)["reclaimed_rows"] == 1
    assert compact(srv.data, name)["reclaimed_rows"] == 0  # nothing left to reclaim


def kill_and_restart(srv):
    srv.proc.kill()
    srv.proc.wait(10)
    srv.start()


def test_compaction_survives_restarts_clean_and_killed(start_server):
    srv = start_server(["--compact-deleted-fraction", "0", "--snapshot-interval", "0"])
    name = unique_name("compact_restart")
    put_table(srv.data, name, make_table(3000, DIM, rng=np.random.default_rng(24)),
              batch_size=500)
    assert delete(srv.data, name, range(0, 3000, 3)) == 1000
    assert compact(srv.data, name)["reclaimed_rows"] == 1000
    # After the compaction: appends, and deletes logged in the new numbering.
    put_table(srv.data, name, make_table(500, DIM, start_id=3000, rng=np.random.default_rng(25)))
    assert delete(srv.data, name, [1, 2, 3001, 3499]) == 4
    expected = sorted(set(range(3500)) - set(range(0, 3000, 3)) - {1, 2, 3001, 3499})
    assert sorted(ids_of(srv.data, name)) == expected
    # SIGKILL after the compaction, before any snapshot: the compaction is not logged (the log
    # names rows by key, which it does not change), so the restart replays the rows
    # uncompacted, every acked put and delete with them, and the compaction is done again.
    kill_and_restart(srv)
    assert sorted(ids_of(srv.data, name)) == expected
    one = stats(srv.data, name)
    assert (one["rows"], one["deleted_rows"]) == (len(expected), 1004)
    assert compact(srv.data, name)["reclaimed_rows"] == 1004
    assert sorted(ids_of(srv.data, name)) == expected
    # Deletes and puts after the new compaction, then another kill: still every acked change.
    put_table(srv.data, name, make_table(10, DIM, start_id=3500, rng=np.random.default_rng(26)))
    assert delete(srv.data, name, [4, 3505]) == 2
    expected = sorted(set(expected) - {4, 3505} | set(range(3500, 3510)) - {3505})
    kill_and_restart(srv)
    assert sorted(ids_of(srv.data, name)) == expected
    assert compact(srv.data, name)["reclaimed_rows"] == 1006
    # The replay re-indexes in the background; the snapshot saves the graph as far as it got,
    # so wait for all of it before checking that a restart maps the whole graph back.
    wait_indexed(srv.data, name)
    assert srv.stop() == 0  # the shutdown snapshot holds the survivors only
    srv.start()
    assert "from snapshots" in srv.stderr()
    assert sorted(ids_of(srv.data, name)) == expected
    one = stats(srv.data, name)
    assert (one["rows"], one["deleted_rows"], one["index_restored_rows"]) == \
        (len(expected), 0, len(expected))
    assert search_ids(srv.data, name, vectors_of(scan(srv.data, {"dataset": name, "filters": [
        {"field": "id", "op": "=", "value": 5}]}).column("vector"))[0], 1) == [5]


def test_rekeying_compactions_survive_kills(start_server):
    # --compact-rekey-keys 0: every compaction renumbers the row keys densely and logs it, so
    # a SIGKILL before any snapshot replays the compaction (its rows are gone after the
    # restart), and the records after it name rows in the new numbering.
    srv = start_server(["--compact-deleted-fraction", "0", "--snapshot-interval", "0",
                        "--compact-rekey-keys", "0"])
    name = unique_name("compact_rekey")
    put_table(srv.data, name, make_table(3000, DIM, rng=np.random.default_rng(27)),
              batch_size=500)
    assert delete(srv.data, name, range(0, 3000, 3)) == 1000
    report = compact(srv.data, name)
    assert (report["reclaimed_rows"], report["retired_keys"]) == (1000, 1000)
    put_table(srv.data, name, make_table(500, DIM, start_id=3000, rng=np.random.default_rng(28)))
    assert delete(srv.data, name, [1, 2, 3001, 3499]) == 4
    expected = sorted(set(range(3500)) - set(range(0, 3000, 3)) - {1, 2, 3001, 3499})
    kill_and_restart(srv)
    assert sorted(ids_of(srv.data, name)) == expected
    one = stats(srv.data, name)
    assert (one["rows"], one["deleted_rows"]) == (len(expected), 4)  # the rekey was replayed
    report = compact(srv.data, name)
    # 4 dropped now, 1000 retired before: only the 4 are gone keys
    assert (report["reclaimed_rows"], report["retired_keys"]) == (4, 4)
    put_table(srv.data, name, make_table(10, DIM, start_id=3500, rng=np.random.default_rng(29)))
    assert delete(srv.data, name, [4, 3505]) == 2
    expected = sorted(set(expected) - {4} | set(range(3500, 3510)) - {3505})
    kill_and_restart(srv)
    assert sorted(ids_of(srv.data, name)) == expected
    one = stats(srv.data, name)
    assert (one["rows"], one["deleted_rows"]) == (len(expected), 2)
    assert search_ids(srv.data, name, vectors_of(scan(srv.data, {"dataset": name, "filters": [
        {"field": "id", "op": "=", "value": 3503}]}).column("vector"))[0], 1) == [3503]


def test_deletes_past_the_threshold_compact_in_the_background(start_server):
    srv = start_server(["--compact-deleted-fraction", "0.25", "--compact-min-rows", "100"])
    name = unique_name("compact_auto")
    put_table(srv.data, name, make_table(1000, DIM, rng=np.random.default_rng(26)))
    assert delete(srv.data, name, range(0, 240)) == 240  # 24%: below the threshold
    time.sleep(0.3)
    assert stats(srv.data, name)["compactions"] == 0
    assert delete(srv.data, name, range(240, 260)) == 20
    one = wait_until(lambda: stats(srv.data, name), lambda st: st["compactions"] > 0,
                     "no compaction")
    assert (one["compactions"], one["reclaimed_rows"], one["deleted_rows"]) == (1, 260, 0)
    assert sorted(ids_of(srv.data, name)) == list(range(260, 1000))
    # The log line comes last, after the totals above and handing memory back.
    wait_until(srv.stderr, lambda log: "compacted dataset" in log, "no 'compacted dataset' line")


@pytest.mark.parametrize("body, error, message", [
    ({}, INVALID_ARGUMENT, "action 'compact' needs"),
    ({"dataset": "no_such_dataset"}, NOT_FOUND, "dataset 'no_such_dataset' not found"),
    ({"dataset": "x", "bogus": 1}, INVALID_ARGUMENT, "unknown key 'bogus'"),
], ids=["no-dataset", "unknown-dataset", "unknown-key"])
def test_bad_compact_bodies(server, body, error, message):
    with pytest.raises(error, match=message):
        action(server.data, "compact", body)
    assert server.alive()
