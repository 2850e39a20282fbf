"""The `snapshot` action's bound: {"timeout": seconds} limits how long the call waits. Past it
the call fails with DEADLINE_EXCEEDED saying the snapshot goes on in the background, and the
snapshot does go on: it becomes durable without another call."""

from __future__ import annotations

import numpy as np
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, ServerProcess, action, make_table, put_table, stats,
                           unique_name, wait_until)

# Only the snapshots a test asks for.
NO_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0"]


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("bound"), NO_TRIGGERS).start()
    yield srv
    assert srv.stop() == 0, srv.stderr_tail()


def test_timeout_past_replies_deadline_exceeded_and_the_snapshot_goes_on(bounded):
    client = bounded.data
    name = unique_name("bound")
    # Enough rows that writing them (Parquet, the graph, fsyncs) takes far longer than the
    # microseconds a zero timeout waits.
    put_table(client, name, make_table(20_000, d=64, rng=np.random.default_rng(3)),
              batch_size=5_000)
    assert stats(client, name)["snapshot_lsn"] == 0
    with pytest.raises(flight.FlightTimedOutError,
                       match=r"did not finish within the 'timeout' of 0 s; it goes on in the "
                             r"background"):
        action(client, "snapshot", {"dataset": name, "timeout": 0})
    st = wait_until(lambda: stats(client, name), lambda s: s["snapshot_lsn"] > 0,
                    f"the snapshot of {name} never became durable")
    # A generous bound: the reply as without one (the dataset is unchanged: its snapshot).
    [reply] = action(client, "snapshot", {"dataset": name, "timeout": 600})
    assert [(r["dataset"], r["lsn"], r["rows"]) for r in reply["snapshot"]] == \
        [(name, st["snapshot_lsn"], 20_000)]
    [everything] = action(bounded.meta, "ForceSnapshot", {"timeout": 600.5})
    assert name in [r["dataset"] for r in everything["snapshot"]]


@pytest.mark.parametrize("timeout", [-1, "5", True, None, [1], 1e9])
def test_bad_timeout_is_refused(bounded, timeout):
    with pytest.raises(INVALID_ARGUMENT,
                       match=r"'timeout' in body of action 'snapshot' must be (a number|seconds)"):
        action(bounded.data, "snapshot", {"timeout": timeout})
    assert bounded.alive()
