"""The benchmark modes of the put path (bench/ingest/ingest_matrix.py): `--null-sink` acks and
discards (the transport's ceiling), `--log-sink` checks each batch and logs it in a WAL of its
own before acking, then discards it (the transport plus the log's copy). Neither stores a row,
the log sink's log is never replayed, and a restart without the flag finds the data dir as it
was; the two modes exclude each other."""
import signal

import pytest

from arbalest_util import NOT_FOUND, ServerProcess, make_table, put_table, scan, stats

pytestmark = pytest.mark.timeout(120)


def wal_bytes(directory) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.wal"))


@pytest.mark.parametrize("sink", ["--null-sink", "--log-sink"])
def test_a_sink_acks_every_batch_and_stores_nothing(tmp_path, sink):
    srv = ServerProcess(tmp_path).start()
    put_table(srv.connect(), "kept", make_table(50, 8, start_id=0))
    srv.stop()
    srv = ServerProcess(tmp_path, ["--fsync", "none", sink]).start()
    client = srv.connect()
    assert scan(client, "kept").num_rows == 50  # what the data dir held is served
    table = make_table(3000, 64, start_id=0)
    acks = put_table(client, "bench", table, batch_size=1000)
    assert [a["status"] for a in acks] == ["acked"] * 3
    assert sum(a["rows"] for a in acks) == 3000
    with pytest.raises(NOT_FOUND):
        stats(client, "bench")
    log = tmp_path / "data" / "bench-log-sink"
    if sink == "--log-sink":
        # Every batch's vectors went into the sink's log; the acks carry its LSNs.
        assert wal_bytes(log) > table.column("vector").nbytes
        assert [a["seq"] for a in acks] == sorted(a["seq"] for a in acks)
        assert len({a["seq"] for a in acks}) == 3
    else:
        assert not log.exists()
    srv.stop(signal.SIGKILL)
    # A restart without the flag: the sink's log is not replayed, the real log is intact.
    srv = ServerProcess(tmp_path).start()
    client = srv.connect()
    with pytest.raises(NOT_FOUND):
        stats(client, "bench")
    assert scan(client, "kept").num_rows == 50
    put_table(client, "kept", make_table(10, 8, start_id=100))
    assert scan(client, "kept").num_rows == 60
    srv.stop()


def test_the_two_sinks_exclude_each_other(tmp_path):
    srv = ServerProcess(tmp_path, ["--null-sink", "--log-sink"])
    with pytest.raises(RuntimeError, match="exited with code"):
        srv.start(attempts=1)
    assert "excludes" in srv.stderr(), srv.stderr_tail()
