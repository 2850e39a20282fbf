"""The command line: flags, their ARBALEST_* environment twins, bad values, signals, and the
--max-memory limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (die_with_parent, action, assert_tables_equal, binary_path, free_ports, make_table,
                           put_table, scan, stats, unique_name, vector_array)

FLAGS = ["--host", "--port", "--meta-port", "--metrics-port", "--data-dir", "--log-format",
         "--log-level", "--max-memory", "--snapshot-interval", "--snapshot-wal-bytes"]
ENVS = ["ARBALEST_HOST", "ARBALEST_PORT", "ARBALEST_META_PORT", "ARBALEST_METRICS_PORT",
        "ARBALEST_DATA_DIR", "ARBALEST_LOG_FORMAT", "ARBALEST_LOG_LEVEL", "ARBALEST_MAX_MEMORY",
        "ARBALEST_SNAPSHOT_INTERVAL", "ARBALEST_SNAPSHOT_WAL_BYTES"]


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ARBALEST_") or k == "ARBALEST_BIN"}
    env.update(extra)
    return env


def _run(args, tmp_path, env=None, timeout=15):
    if not binary_path().exists():
        pytest.fail(f"arbalest binary not found at {binary_path()}", pytrace=False)
    return subprocess.run([str(binary_path())] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env or _clean_env(),
                          stdin=subprocess.DEVNULL)


def test_help_lists_every_flag(tmp_path):
    r = _run(["serve", "--help"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    missing = [f for f in FLAGS if f not in out]
    assert not missing, f"--help does not mention {missing}:\n{out}"


def test_help_names_env_twins(tmp_path):
    out = _run(["serve", "--help"], tmp_path)
    text = out.stdout + out.stderr
    missing = [e for e in ENVS if e not in text]
    assert not missing, f"--help does not mention {missing}:\n{text}"


def _bad_cases():
    p = "--port"
    return [
        ([p, "abc"], p), ([p, "70000"], p), ([p, "-1"], p), ([p, ""], p),
        (["--meta-port", "x1"], "--meta-port"), (["--meta-port", "65536"], "--meta-port"),
        (["--metrics-port", "99999"], "--metrics-port"),
        (["--log-format", "xml"], "--log-format"),
        (["--max-memory", "lots"], "--max-memory"), (["--max-memory", "-5MB"], "--max-memory"),
        (["--snapshot-interval", "10x"], "--snapshot-interval"),
        (["--snapshot-interval", "-1s"], "--snapshot-interval"),
        (["--snapshot-wal-bytes", "lots"], "--snapshot-wal-bytes"),
        (["--max-dimension", "-1"], "--max-dimension"), (["--max-dimension", "x"], "--max-dimension"),
        (["--max-message-size", "3GiB"], "--max-message-size"),
        (["--max-message-size", "big"], "--max-message-size"),
    ]


@pytest.mark.parametrize("args,flag", _bad_cases(), ids=[" ".join(a) for a, _ in _bad_cases()])
def test_invalid_flag_value_exits_2(tmp_path, args, flag):
    # Free ports for everything else, in case the bad value were accepted.
    port, meta, metrics = free_ports(3)
    base = {"--port": str(port), "--meta-port": str(meta), "--metrics-port": str(metrics),
            "--data-dir": str(tmp_path / "data")}
    base.pop(args[0], None)
    argv = ["serve"] + [x for kv in base.items() for x in kv] + args
    r = _run(argv, tmp_path)
    assert r.returncode == 2, f"exit {r.returncode}; stderr:\n{r.stderr}"
    assert flag in r.stderr, f"stderr does not name {flag}:\n{r.stderr}"


def test_invalid_env_value_exits_2(tmp_path):
    port, meta, metrics = free_ports(3)
    r = _run(["serve", "--meta-port", str(meta), "--metrics-port", str(metrics),
              "--data-dir", str(tmp_path / "d")], tmp_path,
             env=_clean_env(ARBALEST_PORT="not-a-port"))
    assert r.returncode == 2, f"exit {r.returncode}; stderr:\n{r.stderr}"
    assert "ARBALEST_PORT" in r.stderr or "--port" in r.stderr, r.stderr


def test_env_twins_configure_the_server(start_server):
    # Ports, host and data dir all come from ARBALEST_* (no flags at all).
    srv = start_server(use_flags=False, env={"ARBALEST_LOG_FORMAT": "json",
                                             "ARBALEST_LOG_LEVEL": "debug"})
    assert "--port" not in srv.args
    ds = unique_name("env")
    t = make_table(100)
    put_table(srv.data, ds, t)
    assert_tables_equal(scan(srv.meta, ds), t, "server configured by env")
    code = srv.stop(signal.SIGTERM)
    assert code == 0, srv.stderr_tail()


def test_env_port_alone(tmp_path):
    # Only the data port comes from ARBALEST_PORT (host is the default); the rest are flags.
    port, meta, metrics = free_ports(3)
    proc = subprocess.Popen([str(binary_path()), "serve", "--meta-port", str(meta),
                             "--metrics-port", str(metrics), "--data-dir",
                             str(tmp_path / "d")], env=_clean_env(ARBALEST_PORT=str(port)),
                            cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "stderr.log", "wb"),
                            preexec_fn=die_with_parent)
    try:
        client = flight.connect(f"grpc://127.0.0.1:{port}")
        deadline = time.monotonic() + 20
        while True:
            try:
                types = {a.type for a in client.list_actions(
                    options=flight.FlightCallOptions(timeout=1))}
                break
            except flight.FlightError:
                assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
                assert time.monotonic() < deadline, "server not listening on ARBALEST_PORT"
                time.sleep(0.1)
        assert "stats" in types
        client.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
    assert code == 0, (tmp_path / "stderr.log").read_text()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_flags_accepted(start_server, fmt):
    srv = start_server(["--log-format", fmt, "--log-level", "debug"])
    ds = unique_name("log")
    put_table(srv.data, ds, make_table(10))
    assert stats(srv.meta, ds)["rows"] == 10
    assert srv.stop() == 0, srv.stderr_tail()
    lines = [ln for ln in srv.stderr().splitlines() if ln.strip()]
    assert lines, "no log lines on stderr"

    def is_json_object(line):
        try:
            return isinstance(json.loads(line), dict)
        except ValueError:
            return False

    if fmt == "json":
        bad = [ln for ln in lines if not is_json_object(ln)]
        assert not bad, f"--log-format json wrote non-JSON lines: {bad[:3]}"
    else:
        assert not any(is_json_object(ln) for ln in lines), lines[:3]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_exits_0(start_server, sig):
    srv = start_server()
    ds = unique_name("sig")
    put_table(srv.data, ds, make_table(1000), batch_size=100)
    t0 = time.monotonic()
    code = srv.stop(sig)  # None if still running after STOP_TIMEOUT_S
    assert code == 0, f"exit code {code} after {sig!r}\n{srv.stderr_tail()}"
    assert time.monotonic() - t0 < 8  # nothing open: no waiting out the 5 s grace


def test_signal_with_open_client_stream(start_server):
    # A client in the middle of a DoGet stream must not keep the server from exiting.
    srv = start_server()
    ds = unique_name("open")
    put_table(srv.data, ds, make_table(20000, d=64), batch_size=1000)
    reader = srv.data.do_get(flight.Ticket(ds.encode()))
    reader.read_chunk()
    code = srv.stop(signal.SIGTERM)  # waits out the 5 s grace for the open stream
    assert code == 0, srv.stderr_tail()


def settled_stats(srv, ds, shared_rows):
    """The dataset's stats right after READY, which comes only once the indexing turn has also
    shared the vectors and charged the index: `shared_rows` rows share their vectors with the
    graph and the memory budget holds exactly the rows and indexes (the server's total over
    its one dataset)."""
    mine = stats(srv.meta, ds)
    [everything] = action(srv.meta, "stats", {})
    assert mine["shared_vector_rows"] == shared_rows, mine
    assert everything["memory_used_bytes"] == mine["bytes"] + mine["index_bytes"], (everything,
                                                                                    mine)
    return mine


def fill_until_refused(srv, limit, d, rows, *, shared):
    """4 MiB puts until --max-memory refuses one; returns how many were accepted. Checks after
    each that the index (graph, and any vectors not shared with the rows) is charged."""
    ds = unique_name("memidx")
    put_bytes = rows * d * 4
    rng = np.random.default_rng(5)
    accepted = 0
    for i in range(limit // put_bytes + 2):
        t = pa.table({"id": pa.array(np.arange(i * rows, (i + 1) * rows), pa.int64()),
                      "vector": vector_array(rng.standard_normal((rows, d), np.float32))})
        try:
            put_table(srv.data, ds, t)
        except RESOURCE_EXHAUSTED:
            break
        accepted += 1
        [ready] = action(srv.data, "check_readiness", {"dataset": ds, "wait": 30})
        assert ready["status"] == "READY"
        mine = settled_stats(srv, ds, accepted * rows if shared else 0)
        assert mine["index_bytes"] >= mine["index_graph_bytes"] > 0, mine
        if shared:  # every put is one chunk of the graph: its vectors are held once
            # The graph, and the float16 copies inserts compare (half the float32 bytes).
            assert mine["index_bytes"] < mine["index_graph_bytes"] + accepted * put_bytes * 0.6, \
                mine
        else:
            assert mine["index_bytes"] >= accepted * put_bytes + mine["index_graph_bytes"], mine
    assert stats(srv.meta, ds)["rows"] == accepted * rows
    return accepted


def test_max_memory_counts_the_indexes(start_server):
    """The HNSW index (the graph, and its copy of the vectors unless the rows share it) is
    charged to --max-memory with the put that brings its rows, so the limit bounds the store's
    memory, not only the rows'. Sharing the vectors lets more rows fit under the same limit
    (each put still needs room for both copies until its rows are indexed and shared)."""
    limit, d, rows = 40_000_000, 256, 4096  # 4 MiB of float32 vectors per put
    copies = fill_until_refused(start_server(["--max-memory", str(limit), "--keep-vector-copies"]),
                                limit, d, rows, shared=False)
    # Rows alone would have fit limit // put_bytes = 9 puts.
    assert 2 <= copies < limit // (rows * d * 4), copies
    shared = fill_until_refused(start_server(["--max-memory", str(limit)]), limit, d, rows,
                                shared=True)
    assert shared > copies, (shared, copies)


def test_max_memory(start_server):
    srv = start_server(["--max-memory", "10MB"])
    ds = unique_name("mem")
    d, rows = 256, 1024  # 1 MiB of float32 vectors per put
    rng = np.random.default_rng(3)
    stored = []
    error = None
    for i in range(40):
        t = pa.table({"id": pa.array(np.arange(i * rows, (i + 1) * rows), pa.int64()),
                      "vector": vector_array(rng.standard_normal((rows, d), np.float32))})
        try:
            put_table(srv.data, ds, t)
        except Exception as e:  # noqa: BLE001 - the class is asserted below
            error = e
            break
        stored.append(t)
    assert error is not None, "40 MiB went into a server limited to 10MB"
    # The first put also pays for the index's first chunks (4096 rows: 6.7 MB at 256-d).
    assert 2 <= len(stored) <= 10, f"{len(stored)} MiB stored under a 10MB limit"
    assert isinstance(error, RESOURCE_EXHAUSTED), f"{type(error).__mro__}: {error}"
    assert "resource exhausted" in str(error).lower(), str(error)
    assert "max-memory" in str(error) or "memory" in str(error).lower(), str(error)
    # Nothing of the failed put is stored; everything before it is intact.
    assert_tables_equal(scan(srv.data, ds), pa.concat_tables(stored), "data under the limit")
    # Small requests still work; deleting frees the memory for new puts.
    assert stats(srv.meta, ds)["rows"] == len(stored) * rows
    action(srv.data, "delete-dataset", {"dataset": ds})
    again = pa.concat_tables(stored[:2])
    put_table(srv.data, ds + "_2", again)
    assert_tables_equal(scan(srv.data, ds + "_2"), again, "put after delete freed memory")


# pyarrow has no class for a ResourceExhausted status and Arrow Flight C++ servers cannot send
# gRPC RESOURCE_EXHAUSTED; the server sends UNAVAILABLE with "resource exhausted: ..." as the
# message (see README.md).
RESOURCE_EXHAUSTED = flight.FlightUnavailableError
