"""Connection and stream limits: the open file limit raised at startup, --max-streams refusing
DoPut/DoGet/DoExchange past the cap with a retryable error naming the flag (with a cap of their
own for the streams of cluster nodes, which carry a token of role cluster), and --fd-reserve
keeping file descriptors for the WAL and snapshots while idle connections flood the Flight
ports of a server started with a low open file limit.
"""

from __future__ import annotations

import json
import resource
import socket

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (action, assert_tables_equal, make_table, put_table, scan, scrape,
                           sort_by_id, unique_name, value, wait_until)
from test_security import bearer, new_token, secure_server  # noqa: F401 (a fixture)


def _open_file_limit(soft, hard):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return preexec


def _open_idle_puts(client, name, count, options=None):
    """`count` DoPut streams that sent their schema and nothing else, held open."""
    table = make_table(1, d=8)
    return [client.do_put(flight.FlightDescriptor.for_path(name), table.schema, options=options)
            for _ in range(count)]


def _assert_refused_for_streams(error, max_streams):
    message = str(error.value)
    assert "resource exhausted" in message and "--max-streams" in message, message
    assert f"{max_streams} DoPut/DoGet/DoExchange streams are open" in message, message


def test_open_file_limit_is_raised_to_the_hard_limit(start_server):
    srv = start_server(preexec=_open_file_limit(256, 4096))
    assert "open file limit raised from 256 to 4096" in srv.stderr(), srv.stderr_tail()
    samples = scrape(srv)
    assert value(samples, "process_max_fds") == 4096
    assert 0 < value(samples, "process_open_fds") < 256
    assert value(samples, "arbalest_fd_reserve") == 64


def test_streams_past_max_streams_are_refused_with_a_retryable_error(start_server):
    srv = start_server(["--max-streams", "4"])
    name = unique_name("streams")
    put_table(srv.data, name, make_table(10, d=8))
    held = _open_idle_puts(srv.connect(), name, 4)
    wait_until(lambda: value(scrape(srv), "arbalest_open_streams"), lambda n: n == 4,
               "4 idle DoPut streams open")

    with pytest.raises(flight.FlightUnavailableError) as refused:
        put_table(srv.data, name, make_table(5, d=8, start_id=100))
    _assert_refused_for_streams(refused, 4)
    with pytest.raises(flight.FlightUnavailableError) as refused:
        scan(srv.data, {"dataset": name})
    _assert_refused_for_streams(refused, 4)
    with pytest.raises(flight.FlightUnavailableError) as refused:
        _, reader = srv.meta.do_exchange(flight.FlightDescriptor.for_command(b"VectorSearch"))
        reader.read_all()
    _assert_refused_for_streams(refused, 4)
    # Calls that are not streams are served; so is the same put once a stream has finished.
    assert action(srv.data, "stats", {"dataset": name})[0]["rows"] == 10
    assert name in [f.descriptor.path[0].decode() for f in srv.meta.list_flights()]
    samples = scrape(srv)
    assert value(samples, "arbalest_streams_refused_total") == 3
    assert value(samples, "arbalest_max_streams") == 4

    writer, _ = held.pop()
    writer.close()
    wait_until(lambda: value(scrape(srv), "arbalest_open_streams"), lambda n: n == 3,
               "a stream closed")
    acks = put_table(srv.data, name, make_table(5, d=8, start_id=100))
    assert acks[0]["status"] == "acked"
    assert scan(srv.data, {"dataset": name}).num_rows == 15
    for writer, _ in held:
        writer.close()


def test_cluster_nodes_streams_and_clients_streams_have_a_cap_each(secure_server, tmp_path):
    admin, admin_line = new_token("admin", id="admin-1")
    node, node_line = new_token("cluster", id="nodes")
    (tmp_path / "tokens").write_text(admin_line + "\n" + node_line + "\n")
    srv = secure_server(["--max-streams", "2", "--auth-tokens", str(tmp_path / "tokens")],
                        probe_token=admin)
    as_client, as_node = bearer(admin), bearer(node)
    name = unique_name("capped")
    rows = make_table(1000, d=8)
    writer, _ = srv.data.do_put(flight.FlightDescriptor.for_path(name), rows.schema,
                                options=as_client)
    writer.write_table(rows)
    writer.close()
    node_read = flight.Ticket(json.dumps({"dataset": name, "local_only": True}).encode())

    # Clients hold every client slot: a client's scan is refused, a cluster node's is served.
    held = _open_idle_puts(srv.data, name, 2, as_client)
    wait_until(lambda: value(scrape(srv), "arbalest_open_streams"), lambda n: n == 2,
               "2 idle client streams open")
    with pytest.raises(flight.FlightUnavailableError) as refused:
        srv.data.do_get(flight.Ticket(json.dumps({"dataset": name}).encode()),
                        options=as_client).read_all()
    _assert_refused_for_streams(refused, 2)
    assert srv.data.do_get(node_read, options=as_node).read_all().num_rows == 1000
    for writer, _ in held:
        writer.close()
    wait_until(lambda: value(scrape(srv), "arbalest_open_streams"), lambda n: n == 0,
               "the client streams closed")

    # Only the client's scan was refused.
    samples = scrape(srv)
    assert value(samples, "arbalest_streams_refused_total") == 1
    assert value(samples, "arbalest_cluster_streams_refused_total") == 0
    # (Cluster nodes holding every slot of theirs while clients are served: flight_test's
    # StreamLimitTest.ClusterCallsTakeTheirOwnSlots, on a Flight server whose handlers block.)


def _flood(port, count):
    """`count` TCP connections to `port` that never send a byte (fewer when the server refuses
    faster than they connect)."""
    conns = []
    for _ in range(count):
        try:
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return conns


def _put_rows(client, name, start, batches, rows=40):
    """Puts `batches` batches of `rows` rows in one stream; returns the acked table."""
    table = make_table(rows * batches, d=32, start_id=start)
    acks = put_table(client, name, table, batch_size=rows)
    assert [a["status"] for a in acks] == ["acked"] * batches, acks
    return table


def test_idle_connections_cannot_take_the_descriptors_of_the_wal_and_snapshots(start_server):
    """256 descriptors, soft and hard (so raising the limit cannot help), 300 idle connections
    on each Flight port and 8 idle streams: puts on a connection made before keep being acked
    across WAL rotations, the snapshot action succeeds, a new client is acked or refused with
    UNAVAILABLE, and after a SIGKILL every acked row is back once."""
    limit = _open_file_limit(256, 256)
    args = ["--wal-segment-size", "16KiB", "--max-streams", "10", "--snapshot-interval", "0"]
    srv = start_server(args, preexec=limit)
    name = unique_name("fds")
    client = srv.connect()
    acked = [_put_rows(client, name, 0, 2)]
    held = _open_idle_puts(client, unique_name("idle"), 8)

    flood = _flood(srv.port, 300) + _flood(srv.meta_port, 300)
    try:
        samples = wait_until(lambda: scrape(srv),
                             lambda s: value(s, "arbalest_connections_refused_total") > 0,
                             "connections refused at the reserve")
        assert value(samples, "process_open_fds") <= 256 - 64 / 2, samples
        assert value(samples, "arbalest_open_streams") == 8
        segments_before = len(list((srv.data_dir / "wal").iterdir()))
        for i in range(1, 6):
            acked.append(_put_rows(client, name, 10_000 * i, 4))  # ~20 KiB: a rotation each
        assert len(list((srv.data_dir / "wal").iterdir())) > segments_before
        reply = action(client, "snapshot", {"dataset": name})
        rows = sum(t.num_rows for t in acked)
        assert reply[0]["snapshot"][0]["rows"] == rows, reply
        # A new client: its connection is refused (retryable) or, if one freed, it is acked.
        fresh = flight.connect(f"grpc://127.0.0.1:{srv.port}")
        try:
            acked.append(_put_rows(fresh, name, 100_000, 1))
        except flight.FlightUnavailableError:
            pass
        finally:
            fresh.close()
        assert srv.alive()
    finally:
        for conn in flood:
            conn.close()

    # Once the idle connections are gone, new clients are served again.
    def fresh_put():
        fresh = srv.connect()
        try:
            return _put_rows(fresh, name, 200_000, 1)
        except flight.FlightUnavailableError:
            return None
    acked.append(wait_until(fresh_put, lambda t: t is not None, "a new client's put acked"))
    for writer, _ in held:
        writer.close()

    want = sort_by_id(pa.concat_tables(acked))
    assert_tables_equal(sort_by_id(scan(client, {"dataset": name})), want, "before the kill")
    srv.proc.kill()
    srv.proc.wait(10)
    srv.stop()
    srv.start()
    assert_tables_equal(sort_by_id(scan(srv.data, {"dataset": name})), want, "after SIGKILL")
