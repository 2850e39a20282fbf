"""A cluster with TLS, mutual TLS and tokens (docs/security.md, "Clusters"): the calls between
nodes speak TLS (verifying peers against --cluster-ca or --tls-client-ca, presenting the node's
own certificate) and carry the cluster token (--cluster-token-file, a token of role cluster);
etcd is reached over https with a client certificate. Certificates are made here with openssl.

A TLS + token cluster answers global searches and scans completely; the cluster token may make the hops
and nothing else (refusals audited); a node that verifies its peers against the wrong CA, or
that sends no cluster token, gets its peers reported missing with the peer and the cause named
(and require_all fails). Bad settings stop startup with the flag named.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import free_ports, make_table, unique_name, vectors_of, wait_until
from etcd_util import EtcdProcess
from test_cluster import Cluster, brute_force_ids, missing_nodes, run_refused
from test_security import SecureServer, bearer, make_ca, make_cert, new_token

LEASE_TTL_S = 2
DIM = 8
ROWS_PER_NODE = 120


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """ca signs the nodes' and etcd's certificates (SAN 127.0.0.1, no key usage limits: each is
    a server and a client certificate); other-ca signs nothing here."""
    dir = tmp_path_factory.mktemp("cluster-certs")
    make_ca(dir, "ca")
    make_ca(dir, "other-ca")
    make_cert(dir, "node", "ca")
    make_cert(dir, "etcd", "ca")
    make_cert(dir, "user", "ca", client=True)
    return dir


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """{name: token} for admin, read and the cluster token, the token file holding them, and
    the cluster token's file."""
    dir = tmp_path_factory.mktemp("cluster-tokens")
    made = {"admin": new_token("admin", id="admin-1"), "read": new_token("read", id="read-1"),
            "write": new_token("write", id="write-1"),
            "write_other": new_token("write", datasets="other*", id="write-other"),
            "cluster": new_token("cluster", id="nodes")}
    (dir / "tokens").write_text("".join(line + "\n" for _, line in made.values()))
    (dir / "cluster-token").write_text("# the token of the calls between nodes\n" +
                                       made["cluster"][0] + "\n")
    result = {name: token for name, (token, _) in made.items()}
    result["file"] = dir / "tokens"
    result["cluster_file"] = dir / "cluster-token"
    return result


class SecureCluster:
    """etcd over https (client certificates required) and nodes serving mutual TLS with
    tokens."""

    def __init__(self, workdir, certs, tokens, shards=0):
        self.workdir, self.certs, self.tokens = workdir, certs, tokens
        self.shards = shards
        self.etcd = EtcdProcess(workdir, tls={"ca": certs / "ca.pem", "cert": certs / "etcd.pem",
                                              "key": certs / "etcd.key"}).start()
        self.name = unique_name("sec")
        self.nodes: list[SecureServer] = []

    def etcd_args(self):
        return ["--cluster-etcd", self.etcd.url, "--cluster-name", self.name,
                "--cluster-lease-ttl", str(LEASE_TTL_S), "--cluster-search-timeout", "10s",
                "--cluster-shards", str(self.shards),  # 0: each node holds the rows put to it
                "--cluster-etcd-ca", str(self.certs / "ca.pem"),
                "--cluster-etcd-cert", str(self.certs / "node.pem"),
                "--cluster-etcd-key", str(self.certs / "node.key")]

    def tls_args(self):
        return ["--tls-cert", str(self.certs / "node.pem"),
                "--tls-key", str(self.certs / "node.key"),
                "--tls-client-ca", str(self.certs / "ca.pem")]

    def token_args(self):
        return ["--auth-tokens", str(self.tokens["file"]),
                "--cluster-token-file", str(self.tokens["cluster_file"])]

    def add_node(self, args) -> SecureServer:
        index = len(self.nodes)
        node = SecureServer(self.workdir / f"node{index}", [*self.etcd_args(), *args],
                            tls_root=(self.certs / "ca.pem").read_bytes(),
                            probe_token=self.tokens["admin"])
        node.connect = client_with_cert(node, self.certs)
        node.start()
        self.nodes.append(node)
        return node

    stop = Cluster.stop  # the nodes with SIGTERM, then etcd


def client_with_cert(node, certs):
    """The node's connect, presenting the user certificate (the nodes require one)."""
    plain_connect = node.connect

    def connect(port=None, **kwargs):
        kwargs.setdefault("cert_chain", (certs / "user.pem").read_bytes())
        kwargs.setdefault("private_key", (certs / "user.key").read_bytes())
        return plain_connect(port, **kwargs)
    return connect


def node_id(node) -> str:
    return f"127.0.0.1-{node.port}"


def member_ids(node, admin_token) -> set[str]:
    results = list(node.data.do_action(flight.Action("cluster-status", b""),
                                       options=bearer(admin_token)))
    return {m["node_id"] for m in json.loads(results[0].body.to_pybytes())["members"]}


def wait_for_members(nodes, admin_token):
    expected = {node_id(n) for n in nodes}
    for node in nodes:
        wait_until(lambda: member_ids(node, admin_token), lambda ids: ids == expected,
                   f"{sorted(expected)} listed by {node_id(node)}", timeout=LEASE_TTL_S + 30)


def put_rows(node, name, index, token):
    table = make_table(ROWS_PER_NODE, d=DIM, start_id=index * 10_000,
                       rng=np.random.default_rng(300 + index))
    writer, _ = node.data.do_put(flight.FlightDescriptor.for_path(name), table.schema,
                                 options=bearer(token))
    writer.write_table(table)
    writer.close()
    return table


def search(node, name, query, token, k=10, **keys):
    ticket = {"search": {"dataset": name, "vector": [float(x) for x in query], "k": k,
                         "ef": 400, **keys}}
    return node.data.do_get(flight.Ticket(json.dumps(ticket).encode()),
                            options=bearer(token)).read_all()


@pytest.fixture
def secure_cluster(tmp_path, certs, tokens):
    c = SecureCluster(tmp_path, certs, tokens)
    yield c
    c.stop()


def test_tls_token_cluster_answers_global_searches(secure_cluster, tokens, tmp_path):
    c = secure_cluster
    audit = tmp_path / "audit.jsonl"
    nodes = [c.add_node([*c.tls_args(), *c.token_args(), "--audit-log", str(audit)]),
             c.add_node([*c.tls_args(), *c.token_args()])]
    wait_for_members(nodes, tokens["admin"])
    name = unique_name("tls")
    tables = [put_rows(node, name, i, tokens["admin"]) for i, node in enumerate(nodes)]
    ids = np.concatenate([t.column("id").to_numpy() for t in tables])
    vectors = np.concatenate([vectors_of(t.column("vector")) for t in tables])
    rng = np.random.default_rng(7)
    for node in nodes:
        for query in rng.standard_normal((5, DIM), dtype=np.float32):
            result = search(node, name, query, tokens["read"], require_all=True)
            assert missing_nodes(result) == []
            assert result.column("id").to_pylist() == brute_force_ids(ids, vectors, query, 10)

    # Hybrid searches: their BM25 statistics phase (`text-stats`) is a hop the cluster token
    # makes too.
    for node in nodes:
        result = search(node, name, vectors[0], tokens["read"], require_all=True,
                        text_query="t3", alpha=0)
        assert missing_nodes(result) == []
        assert result.num_rows == 10 and set(result.column("tag").to_pylist()) == {"t3"}

    # Scans fan out over the same hops.
    for node in nodes:
        scan = node.data.do_get(flight.Ticket(json.dumps({"dataset": name}).encode()),
                                options=bearer(tokens["read"])).read_all()
        assert sorted(scan.column("id").to_pylist()) == sorted(ids.tolist())
        assert missing_nodes(scan) == []

    # The cluster token makes the hops (local_only searches) and nothing else.
    hop = search(nodes[0], name, vectors[0], tokens["cluster"], k=3, local_only=True)
    assert hop.num_rows == 3
    with pytest.raises(flight.FlightUnauthorizedError,
                       match="token 'nodes' has role cluster: it may only make the calls between "
                             "cluster nodes"):
        search(nodes[0], name, vectors[0], tokens["cluster"])
    with pytest.raises(flight.FlightUnauthorizedError, match="role cluster"):
        put_rows(nodes[0], name, 5, tokens["cluster"])
    with pytest.raises(flight.FlightUnauthorizedError, match="role cluster"):
        list(nodes[0].data.list_flights(options=bearer(tokens["cluster"])))

    # Deletes fan out: the hops carry the client's token beside the cluster token, and each
    # node checks the client's. The cluster token alone may not delete.
    doomed = [t.column("id").to_pylist()[0] for t in tables]
    answer = delete(nodes[0], {"dataset": name, "ids": doomed}, tokens["admin"])
    assert answer["deleted"] == 2 and answer["missing_nodes"] == []
    assert scan_ids(nodes[1], name, tokens["read"]) == sorted(set(ids.tolist()) - set(doomed))
    with pytest.raises(flight.FlightUnauthorizedError, match="must carry that client's token"):
        delete(nodes[0], {"dataset": name, "id": 1, "local_only": True}, tokens["cluster"])

    refused = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["token"], e["method"], e["allowed"]) for e in refused
            if e["token"] == "nodes"] == [("nodes", "DoGet", False), ("nodes", "DoPut", False),
                                          ("nodes", "ListFlights", False),
                                          ("nodes", "DoAction", False)]


def delete(node, body, token) -> dict:
    [result] = node.data.do_action(flight.Action("delete", json.dumps(body).encode()),
                                   options=bearer(token))
    return json.loads(result.body.to_pybytes())


def scan_ids(node, name, token, **keys) -> list:
    scan = node.data.do_get(flight.Ticket(json.dumps({"dataset": name, **keys}).encode()),
                            options=bearer(token)).read_all()
    return sorted(scan.column("id").to_pylist())


def test_wrong_ca_or_no_cluster_token_names_the_peer(secure_cluster, certs, tokens):
    c = secure_cluster
    good = c.add_node([*c.tls_args(), *c.token_args()])
    # Verifies its peers against a CA that did not sign them.
    wrong_ca = c.add_node([*c.tls_args(), *c.token_args(),
                           "--cluster-ca", str(certs / "other-ca.pem")])
    # Requires no token itself, so it may start without one: its hops carry none.
    no_token = c.add_node([*c.tls_args()])
    wait_for_members(c.nodes, tokens["admin"])
    name = unique_name("bad")
    for i, node in enumerate(c.nodes):
        put_rows(node, name, i, tokens["admin"])
    query = np.zeros(DIM, dtype=np.float32)

    # The good node reaches both (they verify and accept it).
    assert missing_nodes(search(good, name, query, tokens["read"])) == []

    missing = {m["node"]: m["reason"] for m in
               missing_nodes(search(wrong_ca, name, query, tokens["read"]))}
    assert set(missing) == {node_id(good), node_id(no_token)}
    for peer in (good, no_token):
        reason = missing[node_id(peer)]
        assert reason.startswith(f"unavailable: peer {node_id(peer)} at 127.0.0.1:{peer.port}")
        assert "--cluster-ca" in reason
    with pytest.raises(flight.FlightUnavailableError,
                       match=f"require_all: member '127.0.0.1-[0-9]+' is missing from the search "
                             f"\\(unavailable: peer 127.0.0.1-[0-9]+ at"):
        search(wrong_ca, name, query, tokens["read"], require_all=True)

    missing = {m["node"]: m["reason"] for m in
               missing_nodes(search(no_token, name, query, tokens["read"]))}
    assert set(missing) == {node_id(good), node_id(wrong_ca)}
    for peer in (good, wrong_ca):
        assert missing[node_id(peer)].startswith(
            f"unauthenticated: peer {node_id(peer)} at 127.0.0.1:{peer.port} refused this "
            "node's cluster token")
    with pytest.raises(flight.FlightUnavailableError, match="unauthenticated: peer"):
        search(no_token, name, query, tokens["read"], require_all=True)


def node_flags(tmp_path):
    port, meta, metrics = free_ports(3)
    return ["--port", str(port), "--meta-port", str(meta), "--metrics-port", str(metrics),
            "--data-dir", str(tmp_path / "data")]


@pytest.mark.parametrize("flags, message", [
    (["--auth-tokens", "{tokens}"], "--auth-tokens in a cluster needs --cluster-token-file"),
    (["--auth-tokens", "{tokens}", "--cluster-token-file", "{tokens}"],
     "--cluster-token-file {tokens}: not a token made by `arbalest token`"),
    (["--auth-tokens", "{other_tokens}", "--cluster-token-file", "{cluster_token}"],
     "--cluster-token-file {cluster_token}: its token 'nodes' is not in --auth-tokens "
     "{other_tokens}"),
    (["--cluster-ca", "{ca}"], "--cluster-ca needs --tls-cert and --tls-key"),
    (["--cluster-etcd-cert", "{ca}"], "--cluster-etcd-cert and --cluster-etcd-key go together"),
    (["--cluster-etcd-ca", "{tokens}"], "--cluster-etcd-ca: {tokens} holds no PEM block"),
])
def test_bad_cluster_security_flags_are_refused(tmp_path, certs, tokens, flags, message):
    other_tokens = tmp_path / "other-tokens"
    other_tokens.write_text(new_token("read", id="someone")[1] + "\n")
    paths = {"tokens": tokens["file"], "other_tokens": other_tokens,
             "cluster_token": tokens["cluster_file"], "ca": certs / "ca.pem"}
    refused = run_refused([*node_flags(tmp_path), "--cluster-etcd", "http://127.0.0.1:1",
                           *[f.format(**paths) for f in flags]])
    assert refused.returncode == 1, refused.stderr
    assert message.format(**paths) in refused.stderr
    assert "cannot reach etcd" not in refused.stderr  # refused before etcd is asked


def test_etcd_over_tls_without_client_certificate_is_refused(secure_cluster, certs, tmp_path):
    c = secure_cluster
    flags = ["--cluster-etcd", c.etcd.url, "--cluster-name", c.name]
    # Without its CA, the node cannot verify etcd's certificate.
    refused = run_refused([*node_flags(tmp_path), *flags])
    assert refused.returncode == 1, refused.stderr
    assert f"cannot reach etcd (--cluster-etcd {c.etcd.url})" in refused.stderr
    assert "certificate" in refused.stderr
    # With the CA but no client certificate, etcd refuses the handshake.
    refused = run_refused([*node_flags(tmp_path), *flags,
                           "--cluster-etcd-ca", str(certs / "ca.pem")])
    assert refused.returncode == 1, refused.stderr
    assert f"cannot reach etcd (--cluster-etcd {c.etcd.url})" in refused.stderr



def forwarded(cluster_token, client_token):
    """The headers of a call between nodes that forwards a client's token."""
    return flight.FlightCallOptions(headers=[
        (b"authorization", b"Bearer " + cluster_token.encode()),
        (b"x-arbalest-forwarded-token", client_token.encode())], timeout=30)


def local_shard_ids(node, name, shard, token):
    try:
        return scan_ids(node, f"{name}.__shard{shard}", token, local_only=True)
    except pa.ArrowKeyError:
        return None


def test_tokens_shard_puts_and_cluster_wide_deletes_with_the_clients_permission(
        tmp_path, certs, tokens):
    """Sharded datasets on a cluster with tokens: the shard puts and the delete hops carry the
    client's token beside the cluster token, and each node checks the client's."""
    c = SecureCluster(tmp_path, certs, tokens, shards=4)
    try:
        audit = tmp_path / "audit.jsonl"
        nodes = [c.add_node([*c.tls_args(), *c.token_args(), "--audit-log", str(audit)]),
                 c.add_node([*c.tls_args(), *c.token_args()]),
                 c.add_node([*c.tls_args(), *c.token_args()])]
        wait_for_members(nodes, tokens["admin"])
        by_id = {node_id(n): n for n in nodes}
        name = unique_name("secshard")
        tables = [put_rows(node, name, i, tokens["write"]) for i, node in enumerate(nodes)]
        ids = sorted(i for t in tables for i in t.column("id").to_pylist())

        # Sharded, and every row on both replicas of its shard.
        [status] = nodes[0].data.do_action(flight.Action("cluster-status", b""),
                                           options=bearer(tokens["admin"]))
        maps = {m["dataset"]: m for m in json.loads(status.body.to_pybytes())["shard_maps"]}
        placement = maps[name]["placement"]
        assert len(placement) == 4 and maps[name]["replication"] == 2
        held = []
        for shard in placement:
            copies = [local_shard_ids(by_id[r], name, shard["shard"], tokens["read"])
                      for r in shard["replicas"]]
            assert len(copies) == 2 and copies[0] == copies[1]
            held += copies[0]
        assert sorted(held) == ids
        for node in nodes:
            assert scan_ids(node, name, tokens["read"]) == ids
            # The catalog over TLS and tokens: the hops list with the cluster token (local_only),
            # the reader sees the dataset once, every row counted once.
            listed = {i.descriptor.path[0].decode(): i
                      for i in node.data.list_flights(options=bearer(tokens["read"]))}
            assert name in listed and listed[name].total_records == len(ids)
            assert not [n for n in listed if ".__shard" in n]

        # A reader may neither put nor delete; a writer of other datasets may not put here.
        with pytest.raises(flight.FlightUnauthorizedError,
                           match="token 'read-1' has role read; DoPut needs role write"):
            put_rows(nodes[1], name, 7, tokens["read"])
        with pytest.raises(flight.FlightUnauthorizedError,
                           match="token 'read-1' has role read; action 'delete' needs role"):
            delete(nodes[2], {"dataset": name, "ids": ids[:5]}, tokens["read"])
        with pytest.raises(flight.FlightUnauthorizedError,
                           match="token 'write-other' may not use dataset"):
            put_rows(nodes[1], name, 8, tokens["write_other"])
        # A forged hop: the cluster token forwarding a reader's token, or no client token; a
        # client sending the forwarding header itself. The same for a put stream between nodes
        # (its tokens are checked when it opens).
        hop = {"shard_put": {"dataset": name, "shard": 0, "epoch": placement[0]["epoch"],
                             "role": "primary"}}
        descriptor = flight.FlightDescriptor.for_command(json.dumps(hop))
        stream = flight.FlightDescriptor.for_command(
            json.dumps({"shard_put_stream": {"dataset": name}}))
        slice_hop = pa.py_buffer(json.dumps({"seq": 0, **hop["shard_put"]}).encode())
        row = make_table(1, d=DIM, start_id=99_999)
        for options, message in [
                (forwarded(tokens["cluster"], tokens["read"]),
                 "token 'read-1' has role read; DoPut needs role write .*forwarded by cluster "
                 "token 'nodes'"),
                (bearer(tokens["cluster"]), "must carry that client's token"),
                (forwarded(tokens["cluster"], tokens["write_other"]),
                 "token 'write-other' may not use dataset")]:
            with pytest.raises(flight.FlightUnauthorizedError, match=message):
                writer, reader = nodes[0].data.do_put(stream, row.schema, options=options)
                writer.write_with_metadata(row.to_batches()[0], slice_hop)
                writer.done_writing()
                reader.read()
                writer.close()
        for options, message in [
                (forwarded(tokens["cluster"], tokens["read"]),
                 "token 'read-1' has role read; DoPut needs role write .*forwarded by cluster "
                 "token 'nodes'"),
                (bearer(tokens["cluster"]), "must carry that client's token"),
                (forwarded(tokens["write"], tokens["write"]),
                 "the header x-arbalest-forwarded-token is for the calls between cluster nodes")]:
            with pytest.raises(flight.FlightUnauthorizedError, match=message):
                writer, _ = nodes[0].data.do_put(descriptor, row.schema, options=options)
                writer.write_table(row)
                writer.close()
        assert scan_ids(nodes[0], name, tokens["read"]) == ids

        # A writer's cluster-wide delete reaches every replica of every shard.
        doomed = ids[::10]
        answer = delete(nodes[2], {"dataset": name, "ids": doomed}, tokens["write"])
        assert answer["deleted"] == len(doomed) and answer["missing_nodes"] == []
        kept = sorted(set(ids) - set(doomed))
        for node in nodes:
            assert scan_ids(node, name, tokens["read"]) == kept
        for shard in placement:
            for replica in shard["replicas"]:
                held = local_shard_ids(by_id[replica], name, shard["shard"], tokens["read"])
                assert not set(held) & set(doomed)

        # The audit log names the client's token on a forwarded refusal.
        events = [json.loads(line) for line in audit.read_text().splitlines()]
        assert any(e["token"] == "read-1" and e["method"] == "DoPut" and not e["allowed"] and
                   "forwarded by cluster token 'nodes'" in e["reason"] for e in events)
    finally:
        c.stop()
