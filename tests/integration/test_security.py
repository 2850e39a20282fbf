"""Security (docs/security.md): bearer tokens and roles, the basic-auth handshake, TLS and
mutual TLS on the Flight ports, HTTPS on the metrics port, the audit log, token reloads on
SIGHUP, and bad token files. Certificates are made here with the openssl command."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (READY_TIMEOUT_S, ServerProcess, binary_path, make_table, put_table,
                           unique_name, wait_until)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(dir, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj",
            f"/CN={name}", cwd=dir)


def make_cert(dir, name, ca, days=2, client=False):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=dir)
    ext = dir / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\n" if client else
                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    # days=-1: notAfter before now, an expired certificate.
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", str(days), "-extfile", ext.name,
            cwd=dir)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    dir = tmp_path_factory.mktemp("certs")
    make_ca(dir, "ca")
    make_ca(dir, "other-ca")
    make_cert(dir, "server", "ca")
    make_cert(dir, "expired", "ca", days=-1)
    make_cert(dir, "client", "ca", client=True)
    make_cert(dir, "stranger", "other-ca", client=True)
    return dir


def new_token(role, datasets="*", id=None):
    args = [str(binary_path()), "token", "--role", role, "--datasets", datasets]
    if id:
        args += ["--id", id]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(out) == 2 and out[0].startswith("arb_"), out
    return out[0], out[1]


def bearer(token):
    return flight.FlightCallOptions(headers=[(b"authorization", b"Bearer " + token.encode())],
                                    timeout=30)


class SecureServer(ServerProcess):
    """A server with --auth-tokens (and TLS when given certificates): ready once an admin
    token lists the actions."""

    def __init__(self, workdir, extra_args=(), tls_root=None, probe_token=None):
        super().__init__(workdir, extra_args)
        self.tls_root = tls_root
        self.probe_token = probe_token

    def location(self, port=None):
        scheme = "grpc+tls" if self.tls_root else "grpc"
        return f"{scheme}://127.0.0.1:{port or self.port}"

    def connect(self, port=None, **kwargs):
        if self.tls_root and "tls_root_certs" not in kwargs:
            kwargs["tls_root_certs"] = self.tls_root
        client = flight.connect(self.location(port), **kwargs)
        self._clients.append(client)
        return client

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        for port in (self.port, self.meta_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with code {self.proc.returncode}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"port {port} not open")
                    time.sleep(0.02)
        if self.probe_token is None:
            return
        self.data = self.connect(self.port)
        self.meta = self.connect(self.meta_port)
        while True:
            try:
                list(self.data.list_actions(options=bearer(self.probe_token)))
                list(self.meta.list_actions(options=bearer(self.probe_token)))
                return
            except (flight.FlightUnavailableError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("server not ready")
                time.sleep(0.1)


@pytest.fixture
def secure_server(tmp_path):
    started = []

    def start(extra_args=(), tls_root=None, probe_token=None):
        srv = SecureServer(tmp_path / f"srv{len(started)}", extra_args, tls_root, probe_token)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        if srv.alive():
            assert srv.stop(signal.SIGTERM) == 0, srv.stderr_tail()


@pytest.fixture
def tokens(tmp_path):
    """{role: token} for read, write, admin (every dataset), "scoped" (write on logs_*), and the
    token file holding them."""
    made = {role: new_token(role, id=f"{role}-1") for role in ("read", "write", "admin")}
    made["scoped"] = new_token("write", "logs_*,metrics", id="scoped-1")
    path = tmp_path / "tokens"
    path.write_text("# test tokens\n" + "".join(line + "\n" for _, line in made.values()))
    return {role: token for role, (token, _) in made.items()}, path


def table(n=20, d=4, start=0):
    return make_table(n, d, start_id=start, rng=np.random.default_rng(start))


def put(client, name, data, options):
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(name), data.schema,
                                   options=options)
    writer.write_table(data)
    writer.close()


def do_action(client, kind, body, options):
    return list(client.do_action(flight.Action(kind, json.dumps(body).encode()), options=options))


def exchange_batch(client, descriptor, batch, options):
    """Writes `batch` on a DoExchange and reads the first answer (none: fine)."""
    writer, reader = client.do_exchange(descriptor, options=options)
    writer.begin(batch.schema)
    writer.write_batch(batch)
    writer.done_writing()
    with contextlib.suppress(StopIteration):
        reader.read_chunk()
    writer.close()


def exchange_search(client, dataset, options):
    exchange_batch(client, flight.FlightDescriptor.for_command(b"VectorSearch"), pa.record_batch({
        "dataset": pa.array([dataset]),
        "query_vector": pa.array([[0.1, 0.2, 0.3, 0.4]], pa.list_(pa.float32())),
        "k": pa.array([3], pa.int64())}), options)


def exchange_fetch(client, dataset, options):
    exchange_batch(client, flight.FlightDescriptor.for_command(b"fetch"), pa.record_batch(
        {"dataset": pa.array([dataset]), "id": pa.array([1], pa.int64())}), options)


def exchange_ingest(client, dataset, options):
    data = text_table(5, start=1000)
    exchange_batch(client, flight.FlightDescriptor.for_path("ingest", dataset),
                   data.to_batches()[0], options)


VECTOR = [0.1, 0.2, 0.3, 0.4]

# (operation, role it needs, call(client, dataset, options)). Every RPC and action.
OPERATIONS = [
    ("ListFlights", "read", lambda c, ds, o: list(c.list_flights(options=o))),
    ("ListActions", "read", lambda c, ds, o: list(c.list_actions(options=o))),
    ("GetFlightInfo", "read",
     lambda c, ds, o: c.get_flight_info(flight.FlightDescriptor.for_path(ds), options=o)),
    ("GetSchema", "read",
     lambda c, ds, o: c.get_schema(flight.FlightDescriptor.for_path(ds), options=o)),
    ("DoGet scan", "read", lambda c, ds, o: c.do_get(flight.Ticket(ds), options=o).read_all()),
    ("DoGet search", "read", lambda c, ds, o: c.do_get(flight.Ticket(json.dumps(
        {"search": {"dataset": ds, "vector": VECTOR, "k": 3}})), options=o).read_all()),
    ("DoExchange VectorSearch", "read", exchange_search),
    ("DoExchange fetch", "read", exchange_fetch),
    ("stats", "read", lambda c, ds, o: do_action(c, "stats", {"dataset": ds}, o)),
    ("check_readiness", "read",
     lambda c, ds, o: do_action(c, "check_readiness", {"dataset": ds}, o)),
    ("VectorSearch", "read",
     lambda c, ds, o: do_action(c, "VectorSearch", {"dataset": ds, "vector": VECTOR, "k": 3}, o)),
    ("HybridSearch", "read", lambda c, ds, o: do_action(
        c, "HybridSearch", {"dataset": ds, "vector": VECTOR, "k": 3, "text_query": "alpha"}, o)),
    ("VectorSearchByID", "read",
     lambda c, ds, o: do_action(c, "VectorSearchByID", {"dataset": ds, "id": 1, "k": 3}, o)),
    ("DoPut", "write", lambda c, ds, o: put(c, ds, text_table(5, start=500), o)),
    ("DoExchange ingest", "write", exchange_ingest),
    ("delete", "write", lambda c, ds, o: do_action(c, "delete", {"dataset": ds, "id": 2}, o)),
    ("snapshot", "write", lambda c, ds, o: do_action(c, "snapshot", {"dataset": ds}, o)),
    ("compact", "admin", lambda c, ds, o: do_action(c, "compact", {"dataset": ds}, o)),
    ("delete-dataset", "admin",
     lambda c, ds, o: do_action(c, "delete-dataset", {"dataset": ds}, o)),
]
RANK = {"read": 0, "write": 1, "admin": 2}


def text_table(n=20, start=0):
    data = table(n, start=start)
    return data.append_column("text", pa.array([f"alpha doc {i}" for i in range(n)]))


def test_every_role_against_every_rpc_and_action(secure_server, tokens):
    by_role, path = tokens
    srv = secure_server(["--auth-tokens", str(path)], probe_token=by_role["admin"])
    admin = bearer(by_role["admin"])
    results = []
    for port in (srv.port, srv.meta_port):
        client = srv.connect(port)
        for role in ("read", "write", "admin"):
            for name, needed, call in OPERATIONS:
                ds = unique_name("logs_t")
                put(client, ds, text_table(), admin)
                allowed = RANK[role] >= RANK[needed]
                try:
                    call(client, ds, bearer(by_role[role]))
                    outcome = "allowed"
                except flight.FlightUnauthorizedError as e:
                    outcome = "denied"
                    assert f"needs role {needed}" in str(e), str(e)
                    assert f"token '{role}-1' has role {role}" in str(e), str(e)
                results.append((port == srv.port, role, name, outcome))
                assert outcome == ("allowed" if allowed else "denied"), (port, role, name)
    assert len(results) == 2 * 3 * len(OPERATIONS)


def wrong_last_digit(token):
    """The token with its last hex digit changed: the same id, a secret that does not match."""
    return token[:-1] + ("1" if token[-1] == "0" else "0")


def test_missing_and_bad_tokens_are_unauthenticated(secure_server, tokens):
    by_role, path = tokens
    srv = secure_server(["--auth-tokens", str(path)], probe_token=by_role["admin"])
    for port in (srv.port, srv.meta_port):
        client = srv.connect(port)
        for name, _, call in OPERATIONS:
            # pyarrow raises GetSchema's UNAUTHENTICATED as a plain OSError.
            with pytest.raises((flight.FlightUnauthenticatedError, OSError),
                               match="needs a token.*Unauthenticated"):
                call(client, "logs_x", flight.FlightCallOptions(timeout=30))
        with pytest.raises(flight.FlightUnauthenticatedError, match="not valid"):
            list(client.list_flights(options=bearer(wrong_last_digit(by_role["admin"]))))
        with pytest.raises(flight.FlightUnauthenticatedError, match="not valid"):
            list(client.list_flights(options=bearer("secret")))


def test_dataset_patterns(secure_server, tokens):
    by_role, path = tokens
    srv = secure_server(["--auth-tokens", str(path)], probe_token=by_role["admin"])
    scoped, admin = bearer(by_role["scoped"]), bearer(by_role["admin"])
    client = srv.data
    put(client, "logs_a", table(), scoped)
    put(client, "metrics", table(), scoped)
    put(client, "secret_a", table(), admin)
    with pytest.raises(flight.FlightUnauthorizedError,
                       match="token 'scoped-1' may not use dataset 'secret_a'.*logs_\\*,metrics"):
        client.do_get(flight.Ticket(b"secret_a"), options=scoped).read_all()
    with pytest.raises(flight.FlightUnauthorizedError, match="may not use dataset 'secret_b'"):
        put(client, "secret_b", table(), scoped)
    with pytest.raises(flight.FlightUnauthorizedError, match="covers every dataset"):
        do_action(client, "stats", {}, scoped)
    with pytest.raises(flight.FlightUnauthorizedError, match="may not use dataset 'secret_a'"):
        exchange_search(client, "secret_a", scoped)
    exchange_search(client, "logs_a", scoped)
    with pytest.raises(flight.FlightUnauthorizedError, match="may not use dataset 'secret_a'"):
        exchange_fetch(client, "secret_a", scoped)
    exchange_fetch(client, "logs_a", scoped)
    names = sorted(f.descriptor.path[0].decode() for f in client.list_flights(options=scoped))
    assert names == ["logs_a", "metrics"]
    assert len(list(client.list_flights(options=admin))) == 3
    assert client.do_get(flight.Ticket(b"logs_a"), options=scoped).read_all().num_rows == 20


def test_basic_auth_handshake(secure_server, tokens):
    by_role, path = tokens
    srv = secure_server(["--auth-tokens", str(path)], probe_token=by_role["admin"])
    client = srv.connect()
    header = client.authenticate_basic_token("read-1", by_role["read"])
    assert header == (b"authorization", b"Bearer " + by_role["read"].encode())
    options = flight.FlightCallOptions(headers=[header])
    assert list(client.list_flights(options=options)) == []
    with pytest.raises(flight.FlightUnauthenticatedError, match="basic authentication failed"):
        srv.connect().authenticate_basic_token("write-1", by_role["read"])
    with pytest.raises(flight.FlightUnauthenticatedError, match="basic authentication failed"):
        srv.connect().authenticate_basic_token("read-1", "wrong")


def test_audit_log_and_metrics(secure_server, tokens, tmp_path):
    by_role, path = tokens
    audit = tmp_path / "audit.jsonl"
    srv = secure_server(["--auth-tokens", str(path), "--audit-log", str(audit)],
                        probe_token=by_role["admin"])
    client = srv.data
    put(client, "logs_audit", table(), bearer(by_role["admin"]))
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_flights())
    with pytest.raises(flight.FlightUnauthorizedError):
        do_action(client, "compact", {"dataset": "logs_audit"}, bearer(by_role["write"]))
    with pytest.raises(flight.FlightUnauthorizedError):
        put(client, "other", table(), bearer(by_role["scoped"]))
    do_action(client, "compact", {"dataset": "logs_audit"}, bearer(by_role["admin"]))
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    for line in lines:
        assert set(line) == {"time", "token", "peer", "method", "action", "dataset", "allowed",
                             "reason"}
        assert line["peer"].startswith("ipv4:127.0.0.1:")
        for token in by_role.values():
            assert token not in json.dumps(line)
    keyed = [(l["token"], l["method"], l["action"], l["dataset"], l["allowed"]) for l in lines]
    assert keyed == [
        ("", "ListFlights", "", "", False),
        ("write-1", "DoAction", "compact", "logs_audit", False),
        ("scoped-1", "DoPut", "", "other", False),
        ("admin-1", "DoAction", "compact", "logs_audit", True),
    ]
    assert "needs role admin" in lines[1]["reason"]
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/metrics") as reply:
        body = reply.read().decode()
    for reason, count in (("missing_token", 1), ("role", 1), ("dataset", 1), ("bad_token", 0)):
        assert f'arbalest_auth_failures_total{{reason="{reason}"}} {count}' in body, body


def test_token_file_reloads_on_sighup(secure_server, tokens):
    by_role, path = tokens
    srv = secure_server(["--auth-tokens", str(path)], probe_token=by_role["admin"])
    client = srv.data
    late, late_line = new_token("read", id="late")
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_flights(options=bearer(late)))
    # Add `late`, revoke `read-1`.
    lines = [l for l in path.read_text().splitlines() if not l.startswith("read-1 ")]
    path.write_text("\n".join(lines + [late_line]) + "\n")
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: reloaded" in srv.stderr(), bool, "the reload")
    list(client.list_flights(options=bearer(late)))
    with pytest.raises(flight.FlightUnauthenticatedError, match="token 'read-1' is not valid"):
        list(client.list_flights(options=bearer(by_role["read"])))
    # A bad file keeps the tokens in use.
    path.write_text(path.read_text() + "broken line\n")
    srv.send_signal(signal.SIGHUP)
    wait_until(lambda: "was not reloaded" in srv.stderr(), bool, "the failed reload")
    assert "line 6: expected 4 fields" in srv.stderr()
    list(client.list_flights(options=bearer(late)))
    assert srv.alive()


@pytest.mark.parametrize("text,message", [
    ("a read * blake2b-256:" + "0" * 64 + "\nb root * blake2b-256:" + "0" * 64 + "\n",
     "line 2: unknown role 'root' (read, write, admin or cluster)"),
    ("# comment\n\nc write logs_*\n", "line 3: expected 4 fields"),
    ("d read * arb_d_" + "0" * 64 + "\n", "line 1: the hash must be 'blake2b-256:'"),
])
def test_bad_token_file_stops_startup_naming_the_line(tmp_path, text, message):
    path = tmp_path / "tokens"
    path.write_text(text)
    run = subprocess.run([str(binary_path()), "serve", "--data-dir", str(tmp_path / "data"),
                          "--port", "0", "--meta-port", "0", "--metrics-port", "0",
                          "--auth-tokens", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert f"token file {path} {message}" in run.stderr, run.stderr


def test_without_tokens_nothing_changes_and_loopback_has_no_warning(secure_server):
    srv = secure_server()
    client = srv.connect()
    put(client, "open", table(), flight.FlightCallOptions())
    assert client.do_get(flight.Ticket(b"open")).read_all().num_rows == 20
    assert "WITHOUT AUTHENTICATION" not in srv.stderr()


def test_non_loopback_host_without_tokens_warns(tmp_path):
    srv = SecureServer(tmp_path / "srv")
    srv.use_flags = False
    srv.extra_env = {"ARBALEST_HOST": "0.0.0.0"}
    srv.start()
    try:
        wait_until(lambda: "WITHOUT AUTHENTICATION" in srv.stderr(), bool, "the warning")
    finally:
        assert srv.stop() == 0


def test_tls_and_mutual_tls(secure_server, tokens, certs):
    by_role, path = tokens
    root = (certs / "ca.pem").read_bytes()
    srv = secure_server(["--auth-tokens", str(path), "--tls-cert", str(certs / "server.pem"),
                         "--tls-key", str(certs / "server.key")],
                        tls_root=root, probe_token=by_role["admin"])
    admin = bearer(by_role["admin"])
    put(srv.data, "logs_tls", table(), admin)
    assert srv.meta.do_get(flight.Ticket(b"logs_tls"), options=admin).read_all().num_rows == 20
    # A client that trusts another CA, or speaks plain gRPC, gets nowhere.
    wrong = srv.connect(tls_root_certs=(certs / "other-ca.pem").read_bytes())
    with pytest.raises(flight.FlightUnavailableError):
        list(wrong.list_flights(options=flight.FlightCallOptions(timeout=5, headers=[
            (b"authorization", b"Bearer " + by_role["admin"].encode())])))
    plain = flight.connect(f"grpc://127.0.0.1:{srv.port}")
    with pytest.raises(flight.FlightUnavailableError):
        list(plain.list_flights(options=flight.FlightCallOptions(timeout=5)))
    plain.close()
    # The metrics port speaks HTTPS with the same certificate.
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{srv.metrics_port}/healthz",
                                context=context, timeout=5) as reply:
        assert reply.status == 200


def test_expired_server_certificate_is_refused(secure_server, certs):
    srv = secure_server(["--tls-cert", str(certs / "expired.pem"),
                         "--tls-key", str(certs / "expired.key")],
                        tls_root=(certs / "ca.pem").read_bytes())
    client = srv.connect()
    with pytest.raises(flight.FlightUnavailableError):
        list(client.list_flights(options=flight.FlightCallOptions(timeout=5)))


def test_mutual_tls_needs_a_client_certificate_from_the_ca(secure_server, certs):
    root = (certs / "ca.pem").read_bytes()
    srv = secure_server(["--tls-cert", str(certs / "server.pem"), "--tls-key",
                         str(certs / "server.key"), "--tls-client-ca", str(certs / "ca.pem")],
                        tls_root=root)
    good = srv.connect(cert_chain=(certs / "client.pem").read_bytes(),
                       private_key=(certs / "client.key").read_bytes())
    assert list(good.list_flights(options=flight.FlightCallOptions(timeout=10))) == []
    for kwargs in ({}, {"cert_chain": (certs / "stranger.pem").read_bytes(),
                        "private_key": (certs / "stranger.key").read_bytes()}):
        client = srv.connect(**kwargs)
        with pytest.raises(flight.FlightUnavailableError):
            list(client.list_flights(options=flight.FlightCallOptions(timeout=5)))
