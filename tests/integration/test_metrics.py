"""The metrics port: /metrics in the Prometheus text format (parsed here, checked for the named
metrics with values that follow from a workload run against the server), /healthz, /readyz,
and what happens when the port is taken.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, action, binary_path, http_get, make_table,
                           put_table, scan, scrape, unique_name, value, wait_until)


def rpcs(samples, method, grpc_code, action=""):
    return value(samples, "arbalest_rpc_total", method=method, action=action, grpc_code=grpc_code)


def test_metrics_after_a_workload(start_server):
    srv = start_server()
    ds = unique_name("metrics")
    table = make_table(3000, d=16)
    put_table(srv.data, ds, table, batch_size=1000)
    assert action(srv.data, "check_readiness", {"dataset": ds, "wait": 60})[0]["status"] == \
        "READY"
    query = {"search": {"dataset": ds, "vector": [0.1] * 16, "k": 5}}
    for _ in range(4):
        srv.data.do_get(flight.Ticket(json.dumps(query).encode())).read_all()
    scan(srv.meta, ds)
    with pytest.raises(INVALID_ARGUMENT):
        scan(srv.data, {"dataset": ds, "bogus": 1})

    # READY counts indexed rows; the worker leaves the queue after one more (empty) turn.
    s = wait_until(lambda: scrape(srv), lambda s: value(s, "arbalest_index_queue_depth") == 0,
                   "index queue not empty")
    assert value(s, "arbalest_datasets") == 1
    assert value(s, "arbalest_rows") == 3000
    assert value(s, "arbalest_ingested_rows_total") == 3000
    assert value(s, "arbalest_ingested_batches_total") == 3
    assert value(s, "arbalest_ingested_bytes_total") >= 3000 * 16 * 4
    assert value(s, "arbalest_stored_bytes") == value(s, "arbalest_ingested_bytes_total")
    assert value(s, "arbalest_memory_used_bytes") >= value(s, "arbalest_stored_bytes")
    assert value(s, "arbalest_memory_limit_bytes") == 0
    assert value(s, "arbalest_index_rows") == 3000
    assert value(s, "arbalest_index_lag_rows") == 0
    assert value(s, "arbalest_index_queue_depth") == 0
    assert value(s, "arbalest_index_memory_bytes") >= 3000 * 16 * 4
    assert value(s, "arbalest_put_rejected_total") == 0
    # The WAL: every acked byte went through it (with framing), each put fsynced (default).
    assert value(s, "arbalest_wal_bytes_total") >= value(s, "arbalest_ingested_bytes_total")
    assert value(s, "arbalest_wal_fsync_duration_seconds_count") >= 1
    assert value(s, "arbalest_wal_fsync_duration_seconds_sum") > 0
    # RPCs by method, action and the gRPC code the client got (action="" outside DoAction).
    assert rpcs(s, "DoPut", "OK") == 1
    assert rpcs(s, "DoGet", "OK") >= 5
    assert rpcs(s, "DoGet", "InvalidArgument") == 1
    assert rpcs(s, "DoAction", "OK", action="check_readiness") == 1
    assert value(s, "arbalest_rpc_duration_seconds_count", method="DoGet", action="") >= 6
    assert value(s, "arbalest_rpc_duration_seconds_bucket", method="DoGet", action="",
                 le="+Inf") == value(s, "arbalest_rpc_duration_seconds_count", method="DoGet",
                                     action="")
    assert value(s, "arbalest_rpc_duration_seconds_count", method="DoAction",
                 action="check_readiness") == 1
    assert value(s, "arbalest_search_duration_seconds_count") == 4
    assert 0 < value(s, "arbalest_search_duration_seconds_sum") < 10


def test_memory_rejections_are_counted(start_server):
    srv = start_server(["--max-memory", "1MB"])
    ds = unique_name("full")
    rng = np.random.default_rng(1)
    with pytest.raises(flight.FlightUnavailableError):
        for i in range(10):
            put_table(srv.data, ds, pa.table({
                "id": pa.array(np.arange(i * 1000, (i + 1) * 1000), pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(rng.standard_normal(1000 * 64), pa.float32()), 64)}))
    s = scrape(srv)
    assert value(s, "arbalest_put_rejected_total") == 1
    assert value(s, "arbalest_memory_limit_bytes") == 1_000_000
    assert rpcs(s, "DoPut", "Unavailable") == 1


def test_snapshot_metrics_follow_snapshots(start_server):
    srv = start_server()
    before = scrape(srv)
    assert value(before, "arbalest_snapshots_total") == 0
    assert value(before, "arbalest_snapshot_last_success_timestamp_seconds") == 0
    names = [unique_name("snapm"), unique_name("snapm")]
    for name in names:
        put_table(srv.data, name, make_table(500, d=16))
    # Indexed first: a snapshot of a dataset whose index grew afterwards is written again.
    assert action(srv.data, "check_readiness", {"wait": 30})[0]["status"] == "READY"
    started = time.time()
    [reply] = action(srv.data, "snapshot", {})
    written = reply["snapshot"]
    assert sorted(w["dataset"] for w in written) == sorted(names)
    s = scrape(srv)
    assert value(s, "arbalest_snapshots_total") == 2
    assert value(s, "arbalest_snapshot_bytes_total") == sum(w["bytes"] for w in written)
    assert value(s, "arbalest_snapshot_seconds_total") == pytest.approx(
        sum(w["seconds"] for w in written), rel=1e-6, abs=1e-9)
    assert started - 1 <= value(s, "arbalest_snapshot_last_success_timestamp_seconds") \
        <= time.time() + 1
    assert value(s, "arbalest_snapshot_failures_total") == 0
    assert value(s, "arbalest_checkpoint_failures_total") == 0
    # Unchanged datasets are not written again.
    action(srv.data, "snapshot", {})
    assert value(scrape(srv), "arbalest_snapshots_total") == 2


def test_health_and_readiness_probes(start_server):
    srv = start_server()
    assert http_get(srv.metrics_port, "/healthz")[::2] == (200, "ok\n")
    assert http_get(srv.metrics_port, "/readyz")[::2] == (200, "ready\n")
    assert http_get(srv.metrics_port, "/nothing-here")[0] == 404


class _IdleAndSlowClients:
    """Connections that hold the metrics port without finishing a request: `idle` ones that
    send nothing and `slow` ones that send a request's headers a byte at a time, never ending
    them (slowloris). `renew()` trickles the next byte and reopens what the server closed, so
    the load stays for as long as the test runs."""

    def __init__(self, port, idle, slow):
        self.port = port
        self.idle = [self._connect() for _ in range(idle)]
        self.slow = [self._connect() for _ in range(slow)]
        self.sent = 0
        self.reopened = 0

    def _connect(self):
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.setblocking(False)
        return conn

    def _closed_by_server(self, conn):
        try:
            return conn.recv(4096) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def renew(self):
        header = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000
        for group in (self.idle, self.slow):
            for i, conn in enumerate(group):
                if self._closed_by_server(conn):
                    conn.close()
                    group[i] = self._connect()
                    self.reopened += 1
        for conn in self.slow:
            try:
                conn.send(header[self.sent % len(header):][:1])
            except OSError:
                pass  # closed meanwhile: reopened next round
        self.sent += 1

    def close(self):
        for conn in self.idle + self.slow:
            conn.close()


def test_probes_answer_while_idle_and_slow_connections_hold_the_port(start_server):
    """An orchestrator's liveness probe must not fail because other clients hold connections
    to the metrics port open: idle ones, or slowloris ones that trickle a request."""
    srv = start_server()
    clients = _IdleAndSlowClients(srv.metrics_port, idle=100, slow=5)
    try:
        # Rounds over more than 10 s: longer than any idle timeout the server may apply, so
        # the probes also answer while the closed connections are being reopened.
        deadline = time.monotonic() + 12
        rounds = 0
        while time.monotonic() < deadline or rounds < 3:
            clients.renew()
            for path, body in (("/healthz", "ok\n"), ("/readyz", "ready\n")):
                status, _, text = http_get(srv.metrics_port, path)  # 5 s timeout
                assert (status, text) == (200, body), (path, status, text)
            assert value(scrape(srv), "arbalest_datasets") == 0
            rounds += 1
            time.sleep(0.3)
        assert clients.sent >= 3
    finally:
        clients.close()
    assert srv.alive()


def _occupy_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


def test_taken_metrics_port_is_a_clear_startup_error(start_server):
    holder, port = _occupy_port()
    try:
        # Through the env twin: the harness passes its own free ports as flags otherwise.
        with pytest.raises(RuntimeError) as raised:
            start_server(use_flags=False, env={"ARBALEST_METRICS_PORT": str(port)})
        message = str(raised.value)
        assert f"127.0.0.1:{port}" in message and "--metrics-port" in message, message
    finally:
        holder.close()


def test_metrics_port_fallback_takes_the_next_free_port(start_server):
    holder, port = _occupy_port()
    try:
        srv = start_server(use_flags=False, env={"ARBALEST_METRICS_PORT": str(port),
                                                 "ARBALEST_METRICS_PORT_FALLBACK": "1"})
        taken = re.search(r"serving metrics on port (\d+)", srv.stderr())
        assert taken, srv.stderr_tail()
        fallback = int(taken.group(1))
        assert fallback != port
        assert http_get(fallback, "/healthz")[0] == 200
    finally:
        holder.close()


def test_process_metrics_and_build_info(start_server):
    """process_* under the names other Prometheus clients use, read from /proc, and
    arbalest_build_info with the version the binary reports."""
    started = time.time()
    srv = start_server()
    put_table(srv.data, unique_name("proc"), make_table(2000, d=32))
    version = subprocess.run([str(binary_path()), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    s = scrape(srv)
    with open(f"/proc/{srv.proc.pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    rss = int(fields["VmRSS"].split()[0]) * 1024
    assert abs(value(s, "process_resident_memory_bytes") - rss) < 0.25 * rss, (rss, s)
    assert value(s, "process_virtual_memory_bytes") >= value(s, "process_resident_memory_bytes")
    assert value(s, "process_threads") == pytest.approx(int(fields["Threads"]), abs=4)
    assert 0 < value(s, "process_cpu_seconds_total") < 600
    assert abs(value(s, "process_start_time_seconds") - started) < 30
    [build] = [labels for (name, labels) in s if name == "arbalest_build_info"]
    build = dict(build)
    assert build["version"] == version and build["arrow_version"] == pa.__version__, build
    assert build["simd_target"] in srv.stderr(), build  # the startup line names it too
    assert s[("arbalest_build_info", frozenset(build.items()))] == 1


def test_per_dataset_metrics_with_a_bounded_label_count(start_server):
    """Rows, deleted rows, bytes, index memory and lag per dataset, for the largest
    --metrics-datasets datasets; the others are summed under dataset="_other"."""
    srv = start_server(["--metrics-datasets", "2"])
    sizes = {unique_name("big"): 900, unique_name("mid"): 600, unique_name("small"): 300,
             unique_name("tiny"): 100}
    for name, rows in sizes.items():
        put_table(srv.data, name, make_table(rows, d=8))
    big, mid, small, tiny = sizes
    action(srv.data, "delete", {"dataset": big, "ids": list(range(50))})
    assert action(srv.data, "check_readiness", {"wait": 60})[0]["status"] == "READY"
    s = scrape(srv)
    labelled = {dict(labels)["dataset"] for (name, labels) in s
                if name == "arbalest_dataset_rows"}
    assert labelled == {big, mid, "_other"}, labelled
    assert value(s, "arbalest_dataset_rows", dataset=big) == 850
    assert value(s, "arbalest_dataset_deleted_rows", dataset=big) == 50
    assert value(s, "arbalest_dataset_rows", dataset=mid) == 600
    assert value(s, "arbalest_dataset_rows", dataset="_other") == 400
    assert value(s, "arbalest_dataset_deleted_rows", dataset="_other") == 0
    for dataset in (big, mid, "_other"):
        assert value(s, "arbalest_dataset_index_lag_rows", dataset=dataset) == 0
        assert value(s, "arbalest_dataset_index_memory_bytes", dataset=dataset) > 0
    total = sum(value(s, "arbalest_dataset_stored_bytes", dataset=d) for d in labelled)
    assert total == value(s, "arbalest_stored_bytes")


def test_refused_requests_are_labelled_and_logged(start_server):
    """An action outside the protocol is labelled "unknown" (clients cannot grow the label set),
    every refusal is counted by its gRPC code, and an info line summarizes them."""
    srv = start_server()
    for kind in ("no-such-action", "another-made-up-one"):
        with pytest.raises(pa.ArrowException):
            action(srv.data, kind, {})
    with pytest.raises(pa.ArrowKeyError):
        action(srv.data, "stats", {"dataset": "never-created"})
    s = scrape(srv)
    refused = {dict(labels)["grpc_code"]: v for (name, labels), v in s.items()
               if name == "arbalest_rpc_total" and dict(labels)["action"] == "unknown"}
    assert sum(refused.values()) == 2 and "OK" not in refused, refused
    assert rpcs(s, "DoAction", "NotFound", action="stats") == 1
    assert not any(dict(labels).get("action") in ("no-such-action", "another-made-up-one")
                   for (name, labels) in s)
    line = wait_until(srv.stderr, lambda text: "refused in the last" in text, "no refusal line")
    assert "DoAction unknown" in line or "no-such-action" in line, line


def test_dataset_creation_and_drop_are_logged(start_server):
    srv = start_server()
    ds = unique_name("logged")
    put_table(srv.data, ds, make_table(250, d=12))
    action(srv.data, "delete-dataset", {"dataset": ds})
    log = wait_until(srv.stderr, lambda text: f"dropped dataset '{ds}'" in text,
                     "no drop line")
    assert f"created dataset '{ds}': 12 x float32 in column 'vector'" in log, log
    assert f"dropped dataset '{ds}': 250 rows" in log, log


def test_index_catch_up_after_a_restart_is_logged(start_server):
    srv = start_server()
    ds = unique_name("catch_up")
    put_table(srv.data, ds, make_table(6000, d=32), batch_size=1000)
    srv.proc.kill()  # no snapshot: the restart replays every row, none of them indexed
    srv.proc.wait(10)
    srv.start()
    log = wait_until(srv.stderr, lambda text: "index caught up" in text, "no caught-up line",
                     timeout=120)
    waiting = re.search(r"index catch-up: (\d+) rows wait for the vector index", log)
    assert waiting, log
    assert int(waiting.group(1)) == 6000, log
    assert "index caught up: the 6000 rows waiting at startup are indexed" in log, log
