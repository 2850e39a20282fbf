"""Helpers shared by the integration tests: starting the real `arbalest` binary and talking to
it the way users do, with pyarrow.flight.

Nothing here knows the server's internals; everything goes over the wire.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0  # a clean stop writes a final snapshot (large datasets take seconds)

# The pyarrow exception classes the Flight statuses arrive as (observed against the server;
# see README.md in this directory).
INVALID_ARGUMENT = pa.ArrowInvalid
NOT_FOUND = pa.ArrowKeyError


def die_with_parent():
    """In the child before exec: SIGKILL it when the test process dies (e.g. a timeout)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def binary_path() -> Path:
    """The server binary: $ARBALEST_BIN, else the release build in this checkout."""
    env = os.environ.get("ARBALEST_BIN")
    return Path(env) if env else REPO_ROOT / "build" / "release" / "arbalest"


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free on 127.0.0.1 a moment ago (bound together, so distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def unique_name(prefix: str = "ds") -> str:
    """A valid dataset name that no other test uses."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", prefix)[:80]
    return f"{clean}_{uuid.uuid4().hex[:12]}"


class ServerProcess:
    """One running `arbalest serve` on free ports of 127.0.0.1, with a data and a meta client."""

    def __init__(self, workdir: Path, extra_args=(), env=None, use_flags=True, preexec=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.use_flags = use_flags
        self.preexec = preexec  # also run in the child before exec (e.g. to set rlimits)
        self.proc: subprocess.Popen | None = None
        self.port = self.meta_port = self.metrics_port = None
        self.data_dir = self.workdir / "data"
        self.stderr_path = self.workdir / "stderr.log"
        self.stdout_path = self.workdir / "stdout.log"
        self._clients: list[flight.FlightClient] = []
        self.data: flight.FlightClient | None = None
        self.meta: flight.FlightClient | None = None
        self.returncode: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, attempts: int = 3) -> "ServerProcess":
        binary = binary_path()
        if not binary.exists():
            raise RuntimeError(
                f"server binary not found at {binary}; build it or set ARBALEST_BIN")
        last_error = None
        for _ in range(attempts):
            self.port, self.meta_port, self.metrics_port = free_ports(3)
            env = dict(os.environ)
            # The server must only see the configuration the test gives it.
            for key in list(env):
                if key.startswith("ARBALEST_") and key != "ARBALEST_BIN":
                    del env[key]
            args = [str(binary), "serve"]
            if self.use_flags:
                args += [
                    "--host", "127.0.0.1",
                    "--port", str(self.port),
                    "--meta-port", str(self.meta_port),
                    "--metrics-port", str(self.metrics_port),
                    "--data-dir", str(self.data_dir),
                ]
            else:
                env.update({
                    "ARBALEST_HOST": "127.0.0.1",
                    "ARBALEST_PORT": str(self.port),
                    "ARBALEST_META_PORT": str(self.meta_port),
                    "ARBALEST_METRICS_PORT": str(self.metrics_port),
                    "ARBALEST_DATA_DIR": str(self.data_dir),
                })
            args += self.extra_args
            env.update(self.extra_env)
            self.args = args
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(args, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir, env=env,
                                             preexec_fn=self._preexec)
            try:
                self._wait_ready()
                return self
            except RuntimeError as e:  # exited early, maybe a port race with another process
                last_error = e
                self._kill()
                if "already in use" not in self.stderr().lower() and \
                        "address in use" not in self.stderr().lower():
                    break
        raise RuntimeError(f"{last_error}\n--- server stderr ---\n{self.stderr_tail()}")

    def _preexec(self):
        die_with_parent()
        if self.preexec is not None:
            self.preexec()

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        # Wait for the ports to accept connections before making the gRPC channels: a channel
        # that fails to connect backs off for a second or more before it tries again.
        for port in (self.port, self.meta_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with code {self.proc.returncode} before it was ready")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"port {port} not open after {READY_TIMEOUT_S}s")
                    time.sleep(0.02)
        self.data = self.connect(self.port)
        self.meta = self.connect(self.meta_port)
        opts = flight.FlightCallOptions(timeout=1.0)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with code {self.proc.returncode} before it was ready")
            try:
                list(self.data.list_actions(options=opts))
                list(self.meta.list_actions(options=opts))
                return
            except (flight.FlightError, pa.ArrowException, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S}s")
                time.sleep(0.1)

    def connect(self, port: int | None = None) -> flight.FlightClient:
        client = flight.connect(f"grpc://127.0.0.1:{port or self.port}")
        self._clients.append(client)
        return client

    def send_signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Sends `sig` and waits; returns the exit code, or None if it did not exit in time
        (it is then killed)."""
        self._close_clients()
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def _kill(self):
        self._close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _close_clients(self):
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self._clients.clear()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n: int = 8000) -> str:
        return self.stderr()[-n:]


# -- Flight calls, as a user writes them -----------------------------------------------------

def put_table(client: flight.FlightClient, name, table: pa.Table, batch_size=None,
              batches=None, descriptor=None) -> list[dict]:
    """DoPut `table` (or the explicit `batches`) to dataset `name` in one stream; returns the
    decoded ack metadata of every PutResult, in order. Raises the server's error."""
    if descriptor is None:
        descriptor = flight.FlightDescriptor.for_path(name)
    if batches is None:
        batches = table.to_batches(max_chunksize=batch_size) if table.num_rows else []
        schema = table.schema
    else:
        schema = table.schema if table is not None else batches[0].schema
    writer, reader = client.do_put(descriptor, schema)
    acks = []
    try:
        for b in batches:
            writer.write_batch(b)
        writer.done_writing()
        while True:
            buf = reader.read()
            if buf is None:
                break
            acks.append(json.loads(buf.to_pybytes()))
    finally:
        writer.close()
    return acks


def scan(client: flight.FlightClient, ticket) -> pa.Table:
    """DoGet with a JSON ticket (dict), or a raw str/bytes ticket."""
    if isinstance(ticket, dict):
        raw = json.dumps(ticket).encode()
    elif isinstance(ticket, str):
        raw = ticket.encode()
    else:
        raw = ticket
    return client.do_get(flight.Ticket(raw)).read_all()


def action(client: flight.FlightClient, kind: str, body=None) -> list:
    """DoAction; returns each Result body decoded as JSON."""
    if body is None:
        raw = b""
    elif isinstance(body, (bytes, str)):
        raw = body.encode() if isinstance(body, str) else body
    else:
        raw = json.dumps(body).encode()
    return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action(kind, raw))]


def exchange(client: flight.FlightClient, descriptor, batches, options=None) -> list:
    """One DoExchange: writes `batches` (one schema), then reads every answer until the server
    ends the stream; returns them as (RecordBatch or None, decoded JSON app_metadata)."""
    writer, reader = client.do_exchange(descriptor, options=options)
    answers = []
    with writer:
        writer.begin(batches[0].schema)
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            answers.append((chunk.data, json.loads(chunk.app_metadata.to_pybytes())))
    return answers


def stats(client, name):
    results = action(client, "stats", {"dataset": name})
    assert len(results) == 1, results
    return results[0]


def wait_indexed(client, name, timeout=120):
    """Waits until every row of dataset `name` is indexed (check_readiness with a wait)."""
    ready = action(client, "check_readiness", {"dataset": name, "wait": timeout})[0]
    assert ready["status"] == "READY", ready


def search_ids(client, name, query, k) -> list:
    """The ids of the k nearest rows to `query` (a DoGet search ticket), best first."""
    ticket = {"search": {"dataset": name, "vector": [float(x) for x in query], "k": k}}
    return scan(client, ticket).column("id").to_pylist()


def live_recall(client, name, vectors, live, queries, k=10) -> float:
    """Mean fraction of numpy's exact L2 top-k over the `live` rows (row i has id i and vector
    vectors[i]) that the server returns; fails if a row outside `live` comes back."""
    found = 0
    for query in queries:
        distances = np.linalg.norm(vectors[live] - query, axis=1)
        expected = set(live[np.argsort(distances, kind="stable")[:k]].tolist())
        got = search_ids(client, name, query, k)
        assert set(got) <= set(live.tolist()), "a deleted row came back"
        found += len(expected & set(got))
    return found / (k * len(queries))


# -- the metrics port -----------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def thread_files(pid: int, name: str) -> list[str]:
    """The text of /proc/<pid>/task/<tid>/<name> for each of the process's threads ("comm" for
    their names, "stat" for their states), skipping threads that end while they are read."""
    texts = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            texts.append((task / name).read_text())
        except OSError:
            continue  # the thread ended between the listing and the read
    return texts


def wait_until(probe, done, what: str, timeout: float = 30.0):
    """Calls `probe()` until `done(result)` holds and returns that result; fails, naming `what`
    and the last result, after `timeout` seconds. For state that a server's background work
    (index workers, snapshots, compactions) reaches some time after an RPC returns."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        assert time.monotonic() < deadline, f"{what} after {timeout} s: {result}"
        time.sleep(0.05)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def scrape(srv) -> dict:
    """{(name, frozenset(labels)): value} from the exposition text; also checks its shape."""
    status, content_type, body = http_get(srv.metrics_port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain"), (status, content_type)
    samples, typed = {}, set()
    for line in body.splitlines():
        if line.startswith("# TYPE"):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        samples[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    for name, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no # TYPE line"
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# -- data -----------------------------------------------------------------------------------

def vector_array(values: np.ndarray, value_type=pa.float32()) -> pa.FixedSizeListArray:
    """A FixedSizeList<value_type, d> array from an (n, d) numpy array."""
    n, d = values.shape
    flat = pa.array(values.reshape(-1), type=value_type)
    return pa.FixedSizeListArray.from_arrays(flat, d)


def vector_type(value_type, d):
    return pa.list_(pa.field("item", value_type), d)


def make_table(n, d=8, *, start_id=0, rng=None, id_type=pa.int64(), value_type=pa.float32(),
               vector_name="vector", with_ids=True, extra=True) -> pa.Table:
    """n rows: id (start_id..), a d-wide vector, and a few metadata columns."""
    rng = rng if rng is not None else np.random.default_rng(start_id + 7 * n + d)
    cols, fields = [], []
    if with_ids:
        ids = np.arange(start_id, start_id + n)
        if pa.types.is_string(id_type):
            cols.append(pa.array([f"key-{i}" for i in ids], type=pa.string()))
        else:
            cols.append(pa.array(ids, type=id_type))
        fields.append(pa.field("id", id_type))
    vec = random_vectors(rng, n, d, value_type)
    cols.append(vector_array(vec, value_type))
    fields.append(pa.field(vector_name, vector_type(value_type, d)))
    if extra:
        cols.append(pa.array(rng.integers(-1000, 1000, n), type=pa.int32()))
        fields.append(pa.field("category", pa.int32()))
        cols.append(pa.array([f"t{i % 17}" for i in range(start_id, start_id + n)]))
        fields.append(pa.field("tag", pa.string()))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def random_vectors(rng, n, d, value_type=pa.float32()) -> np.ndarray:
    if pa.types.is_int8(value_type):
        return rng.integers(-128, 128, (n, d), dtype=np.int8)
    if pa.types.is_uint8(value_type):
        return rng.integers(0, 256, (n, d), dtype=np.uint8)
    if pa.types.is_float16(value_type):
        return rng.standard_normal((n, d)).astype(np.float16)
    if pa.types.is_float64(value_type):
        return rng.standard_normal((n, d))
    return rng.standard_normal((n, d), dtype=np.float32)


def vectors_of(column) -> np.ndarray:
    """(n, d) numpy array of a FixedSizeList column (ChunkedArray or Array)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    d = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, d)


def assert_tables_equal(got: pa.Table, want: pa.Table, what=""):
    """Equal schemas (names, types, order) and equal values, with a useful message."""
    assert got.schema.names == want.schema.names, f"{what}: column names differ"
    for f_got, f_want in zip(got.schema, want.schema):
        assert f_got.type == f_want.type, \
            f"{what}: column {f_want.name!r} type {f_got.type} != {f_want.type}"
    assert got.num_rows == want.num_rows, \
        f"{what}: {got.num_rows} rows returned, {want.num_rows} expected"
    for name in want.schema.names:
        g = got.column(name).combine_chunks()
        w = want.column(name).combine_chunks()
        if g.equals(w):
            continue
        if pa.types.is_fixed_size_list(w.type):
            gv, wv = vectors_of(g), vectors_of(w)
            rows = np.nonzero(~(gv == wv).all(axis=1))[0]
            bad = int(rows[0]) if len(rows) else None
            if bad is None:  # values equal but nulls differ
                bad = next(i for i in range(len(w)) if g[i].is_valid != w[i].is_valid)
        else:
            neq = pc.fill_null(pc.not_equal(g, w), True)
            neq = pc.or_(neq, pc.not_equal(pc.is_null(g), pc.is_null(w)))
            idx = np.nonzero(neq.to_numpy(zero_copy_only=False))[0]
            bad = int(idx[0]) if len(idx) else None
        raise AssertionError(
            f"{what}: column {name!r} differs; first differing row {bad}: "
            f"got {g[bad] if bad is not None else None}, "
            f"want {w[bad] if bad is not None else None}")


def sort_by_id(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, [("id", "ascending")]))


METRIC_METADATA = {"euclidean": None, "cosine": {"metric": "cosine"}}


def metric_data(rows: int, d: int, metric: str, seed: int, queries: int = 40):
    """A make_table of `rows` x `d` under `metric` ("euclidean" or "cosine", schema metadata),
    its vectors and `queries` random queries as numpy arrays: unit vectors for cosine, so that
    numpy's L2 top-k over them is the cosine top-k."""
    table = make_table(rows, d, rng=np.random.default_rng(seed))
    if METRIC_METADATA[metric]:
        table = table.replace_schema_metadata(METRIC_METADATA[metric])
    vectors = vectors_of(table.column("vector"))
    asked = np.random.default_rng(seed + 1).standard_normal((queries, d)).astype(np.float32)
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        asked = asked / np.linalg.norm(asked, axis=1, keepdims=True)
    return table, vectors, asked


def snapshot_dir(srv: "ServerProcess", dataset: str) -> Path:
    """The one complete snapshot directory of `dataset`."""
    [found] = [p for p in (srv.data_dir / "snapshots").iterdir()
               if p.name.startswith(f"{dataset}@") and not p.name.endswith((".tmp", ".trash"))]
    return found


def manifest(snapshot: Path) -> dict:
    return json.loads((snapshot / "MANIFEST.json").read_text())


def fixture_rows(expected: dict, name: str, d: int = 8) -> pa.Table:
    """The rows a fixture data directory holds for `name` (its expected.json: the make_table
    calls its rows came from and the ids it keeps), sorted by id."""
    rows = pa.concat_tables([make_table(n, d, start_id=start) for n, start in expected["puts"]])
    return sort_by_id(rows.filter(pc.is_in(rows.column("id"), pa.array(expected["ids"][name]))))
