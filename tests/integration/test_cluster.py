"""A cluster of real processes: one etcd (Debian's etcd-server) on free loopback ports with its
own data dir, and three `arbalest serve` nodes joined to it (docs/cluster.md).

Membership: every node lists every member; a SIGKILLed node leaves the list within its lease
TTL; etcd SIGKILLed, the nodes keep serving searches and say they are degraded, and rejoin
once etcd is back on the same data dir and ports. Refusals: a data dir of another cluster, an
etcd that does not answer at startup. Global search: from every node, the top-k of the rows put
to all nodes equals a brute-force top-k over all of them; local_only answers from the node's
own rows; a dead member is reported missing, and require_all makes that an error. Deletes and
check_readiness sent to one node act on (or ask) every member, with the same missing-member
convention.

Timing is never asserted: membership changes are waited for with deadlines (wait_until).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (ServerProcess, action, binary_path, die_with_parent, exchange,
                           free_ports, http_get, make_table, put_table, scrape, unique_name,
                           thread_files, value, vector_array, vectors_of, wait_until)
from etcd_util import EtcdProcess

LEASE_TTL_S = 2
# Generous deadlines: CI is a loaded 2-core machine.
MEMBERSHIP_DEADLINE_S = LEASE_TTL_S + 20
DIM = 8
ROWS_PER_NODE = 150


class Cluster:
    def __init__(self, workdir: Path, name: str, lease_ttl_s: int = LEASE_TTL_S, shards: int = 0,
                 extra_args=()):
        self.workdir = workdir
        self.extra_args = list(extra_args)  # more flags for every node
        self.name = name
        self.lease_ttl_s = lease_ttl_s
        # 0: unsharded, each node holds the rows put to it (test_cluster_shards.py shards).
        self.shards = shards
        self.etcd = EtcdProcess(workdir).start()
        self.nodes: list[ServerProcess] = []

    def node_args(self, name=None, etcd=None):
        return ["--cluster-etcd", etcd or self.etcd.url, "--cluster-name", name or self.name,
                "--cluster-lease-ttl", str(self.lease_ttl_s), "--cluster-search-timeout", "10s",
                "--cluster-shards", str(self.shards), *self.extra_args]

    def add_node(self, index: int, etcd=None) -> ServerProcess:
        node = ServerProcess(self.workdir / f"node{index}",
                             extra_args=self.node_args(etcd=etcd)).start()
        self.nodes.append(node)
        return node

    def stop(self):
        for node in self.nodes:
            node.stop(signal.SIGTERM)
        self.etcd.kill()


def node_id(node: ServerProcess) -> str:
    return f"127.0.0.1-{node.port}"


def cluster_status(node: ServerProcess) -> dict:
    return action(node.data, "cluster-status")[0]


def member_ids(status: dict) -> set[str]:
    return {member["node_id"] for member in status["members"]}


def wait_for_members(nodes, expected: set[str], what: str):
    for node in nodes:
        wait_until(lambda: cluster_status(node), lambda s: member_ids(s) == expected,
                   f"{what} (seen from {node_id(node)})", timeout=MEMBERSHIP_DEADLINE_S)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, unique_name("c"))
    c.add_node(0)
    c.add_node(1)
    # The third node lists an etcd endpoint that does not answer first: it uses the next one.
    c.add_node(2, etcd=f"http://127.0.0.1:{free_ports(1)[0]},{c.etcd.url}")
    wait_for_members(c.nodes, {node_id(n) for n in c.nodes}, "all three members listed")
    yield c
    c.stop()


def search(node: ServerProcess, name: str, query, k: int, **keys) -> pa.Table:
    ticket = {"search": {"dataset": name, "vector": [float(x) for x in query], "k": k,
                         "ef": 400, **keys}}
    return node.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def missing_nodes(table: pa.Table) -> list[dict]:
    metadata = table.schema.metadata or {}
    return json.loads(metadata.get(b"arbalest.missing_nodes", b"[]"))


def brute_force_ids(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list:
    distances = ((vectors - query) ** 2).sum(axis=1)
    return ids[np.argsort(distances, kind="stable")[:k]].tolist()


def put_rows_to_each_node(nodes, name):
    """Different rows (disjoint ids) to each node; returns {node index: table}."""
    tables = {}
    for i, node in enumerate(nodes):
        table = make_table(ROWS_PER_NODE, d=DIM, start_id=i * 10_000,
                           rng=np.random.default_rng(100 + i))
        put_table(node.data, name, table)
        tables[i] = table
    return tables


def all_rows(tables):
    ids = np.concatenate([t.column("id").to_numpy() for t in tables.values()])
    vectors = np.concatenate([vectors_of(t.column("vector")) for t in tables.values()])
    return ids, vectors


# -- membership ------------------------------------------------------------------------------

def test_every_node_lists_every_member_with_its_addresses(cluster):
    by_id = {node_id(n): n for n in cluster.nodes}
    for node in cluster.nodes:
        status = cluster_status(node)
        assert status["mode"] == "cluster" and status["cluster"] == cluster.name
        assert status["degraded"] is False and status["state"] == "ok"
        assert status["node_id"] == node_id(node)
        for member in status["members"]:
            peer = by_id[member["node_id"]]
            assert member["flight"] == f"127.0.0.1:{peer.port}"
            assert member["meta"] == f"127.0.0.1:{peer.meta_port}"
            assert member["metrics"] == f"127.0.0.1:{peer.metrics_port}"
            assert member["state"] == "alive"
            assert member["self"] == (peer is node)
        # The metrics port: /cluster says the same, /readyz names the cluster, the gauge counts.
        code, kind, body = http_get(node.metrics_port, "/cluster")
        assert code == 200 and "json" in kind
        assert member_ids(json.loads(body)) == set(by_id)
        code, _, body = http_get(node.metrics_port, "/readyz")
        assert code == 200 and f"cluster {cluster.name}: ok, 3 members" in body
        assert value(scrape(node), "arbalest_cluster_members") == 3
        assert value(scrape(node), "arbalest_cluster_degraded") == 0


def test_killed_node_leaves_the_member_list_and_searches_report_it(cluster):
    name = unique_name("gone")
    tables = put_rows_to_each_node(cluster.nodes, name)
    victim = cluster.nodes[2]
    victim_id = node_id(victim)
    victim.proc.kill()
    victim.proc.wait(10)
    survivors = cluster.nodes[:2]
    query = vectors_of(tables[0].column("vector"))[0]
    # Still listed (its lease has not expired; the usual case) or already gone (on a slow
    # machine): either way its rows are not in the result, and it is named as missing while it
    # is listed.
    result = search(survivors[0], name, query, 10)
    ids_of_victim = set(tables[2].column("id").to_pylist())
    assert not ids_of_victim & set(result.column("id").to_pylist())
    missing = missing_nodes(result)
    assert [m["node"] for m in missing] in ([victim_id], []), missing
    if missing:
        assert missing[0]["reason"].startswith(("unavailable", "timeout", "error")), missing
    try:
        search(survivors[0], name, query, 10, require_all=True)
        assert victim_id not in member_ids(cluster_status(survivors[0])), \
            "require_all answered although a listed member is dead"
    except flight.FlightUnavailableError as error:
        assert victim_id in str(error) and "require_all" in str(error)
    wait_for_members(survivors, {node_id(n) for n in survivors}, f"{victim_id} to leave")
    # Once it has left, nothing is missing: the result is complete for the live members.
    result = search(survivors[1], name, query, 10, require_all=True)
    assert missing_nodes(result) == []
    ids, vectors = all_rows({i: tables[i] for i in (0, 1)})
    assert result.column("id").to_pylist() == brute_force_ids(ids, vectors, query, 10)


def test_etcd_down_nodes_serve_degraded_and_rejoin_when_it_returns(cluster):
    name = unique_name("degraded")
    tables = put_rows_to_each_node(cluster.nodes, name)
    ids, vectors = all_rows(tables)
    query = vectors[7]
    cluster.etcd.kill()
    for node in cluster.nodes:
        status = wait_until(lambda: cluster_status(node), lambda s: s["degraded"],
                            f"{node_id(node)} to report the cluster degraded",
                            timeout=MEMBERSHIP_DEADLINE_S)
        assert status["state"] == "degraded" and status["degraded_reason"]
        assert len(status["members"]) == 3  # the last known members
        code, _, body = http_get(node.metrics_port, "/readyz")
        assert code == 200 and "degraded" in body
        assert value(scrape(node), "arbalest_cluster_degraded") == 1
        # Searches go on over the members it last saw.
        result = search(node, name, query, 10)
        assert missing_nodes(result) == []
        assert result.column("id").to_pylist() == brute_force_ids(ids, vectors, query, 10)
    cluster.etcd.start()  # same data dir and ports
    for node in cluster.nodes:
        wait_until(lambda: cluster_status(node),
                   lambda s: not s["degraded"] and len(s["members"]) == 3,
                   f"{node_id(node)} to rejoin", timeout=MEMBERSHIP_DEADLINE_S)
        assert value(scrape(node), "arbalest_cluster_degraded") == 0
        assert value(scrape(node), "arbalest_cluster_etcd_errors_total") >= 1
    # An etcd that lost everything (a new, empty data dir): the leases are gone, so every node
    # grants a new one and publishes its key again.
    cluster.etcd.kill()
    shutil.rmtree(cluster.etcd.data_dir)
    cluster.etcd.start()
    for node in cluster.nodes:
        # Waiting for the rejoin itself: a node that has not yet noticed the restart (a quick
        # one, on a loaded machine) still shows its old, healthy membership.
        status = wait_until(lambda: cluster_status(node),
                            lambda s: s["rejoins"] >= 1 and not s["degraded"]
                            and len(s["members"]) == 3,
                            f"{node_id(node)} to rejoin an empty etcd",
                            timeout=MEMBERSHIP_DEADLINE_S)
        assert status["rejoins"] >= 1
        assert value(scrape(node), "arbalest_cluster_rejoins_total") >= 1
    result = search(cluster.nodes[0], name, query, 10, require_all=True)
    assert result.column("id").to_pylist() == brute_force_ids(ids, vectors, query, 10)


# -- refusals --------------------------------------------------------------------------------

def run_refused(args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary_path()), "serve", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=die_with_parent)


def test_data_dir_of_another_cluster_is_refused(tmp_path):
    c = Cluster(tmp_path, "alpha")
    try:
        node = c.add_node(0)
        wait_for_members([node], {node_id(node)}, "the node to join")
        assert (node.data_dir / "CLUSTER").read_text().strip() == "alpha"
        assert node.stop(signal.SIGTERM) == 0
        port, meta, metrics = free_ports(3)
        refused = run_refused(["--port", str(port), "--meta-port", str(meta), "--metrics-port",
                               str(metrics), "--data-dir", str(node.data_dir),
                               *c.node_args(name="beta")])
        assert refused.returncode == 1, refused.stderr
        assert "belongs to cluster 'alpha', not to cluster 'beta'" in refused.stderr
    finally:
        c.stop()


def test_node_id_of_a_live_member_is_refused(tmp_path):
    c = Cluster(tmp_path, unique_name("ids"))
    try:
        node = c.add_node(0)
        wait_for_members([node], {node_id(node)}, "the node to join")
        port, meta, metrics = free_ports(3)
        refused = run_refused(["--port", str(port), "--meta-port", str(meta), "--metrics-port",
                               str(metrics), "--data-dir", str(tmp_path / "other"),
                               "--node-id", node_id(node), *c.node_args()])
        assert refused.returncode == 1, refused.stderr
        assert f"node id '{node_id(node)}' is taken by a live member at 127.0.0.1:{node.port}" \
            in refused.stderr
        assert member_ids(cluster_status(node)) == {node_id(node)}
    finally:
        c.stop()


@pytest.mark.parametrize("flags, message", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 is not an address other nodes can reach: give "
                            "--advertise HOST:PORT"),
    (["--advertise", "nohost"], "'nohost' is not host:port"),
    (["--cluster-name", "a/b"], "cluster name 'a/b' must be"),
    (["--node-id", "x y"], "node id 'x y' must be"),
])
def test_bad_cluster_flags_are_refused_before_serving(tmp_path, flags, message):
    port, meta, metrics = free_ports(3)
    refused = run_refused(["--port", str(port), "--meta-port", str(meta), "--metrics-port",
                           str(metrics), "--data-dir", str(tmp_path / "data"),
                           "--cluster-etcd", "http://127.0.0.1:1", *flags])
    assert refused.returncode == 1, refused.stderr
    assert message in refused.stderr
    assert "cannot reach etcd" not in refused.stderr  # refused before etcd is asked


def test_unreachable_etcd_at_startup_is_refused(tmp_path):
    dead_port, port, meta, metrics = free_ports(4)
    refused = run_refused(["--port", str(port), "--meta-port", str(meta), "--metrics-port",
                           str(metrics), "--data-dir", str(tmp_path / "data"),
                           "--cluster-etcd", f"http://127.0.0.1:{dead_port}"])
    assert refused.returncode == 1, refused.stderr
    assert "cannot reach etcd" in refused.stderr
    assert f"127.0.0.1:{dead_port}" in refused.stderr


def test_single_node_answers_cluster_status_and_ignores_local_only(server):
    status = action(server.data, "cluster-status")[0]
    assert status["mode"] == "single" and status["members"] == []
    code, _, body = http_get(server.metrics_port, "/cluster")
    assert code == 200 and json.loads(body)["mode"] == "single"
    name = unique_name("single")
    table = make_table(50, d=DIM)
    put_table(server.data, name, table)
    query = vectors_of(table.column("vector"))[3]
    plain = search(server, name, query, 5)
    assert search(server, name, query, 5, local_only=True).equals(plain)
    assert missing_nodes(plain) == []


# -- global search ---------------------------------------------------------------------------

def exchange_search(node, name, queries, k, **columns):
    """DoExchange VectorSearch of `queries`; `columns`: extra per-query columns (one value for
    every query, e.g. local_only=True)."""
    batch = pa.record_batch({"dataset": pa.array([name] * len(queries)),
                             "query_vector": vector_array(np.asarray(queries, np.float32)),
                             "k": pa.array([k] * len(queries), pa.int32()),
                             "ef": pa.array([400] * len(queries), pa.int32()),
                             **{key: pa.array([value] * len(queries))
                                for key, value in columns.items()}})
    return exchange(node.data, flight.FlightDescriptor.for_command(b"VectorSearch"), [batch])


def test_global_search_equals_brute_force_from_every_node(cluster):
    name = unique_name("global")
    tables = put_rows_to_each_node(cluster.nodes, name)
    ids, vectors = all_rows(tables)
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((4, DIM), dtype=np.float32)
    k = 10
    for i, node in enumerate(cluster.nodes):
        own_ids = tables[i].column("id").to_numpy()
        own_vectors = vectors_of(tables[i].column("vector"))
        for query in queries:
            want = brute_force_ids(ids, vectors, query, k)
            result = search(node, name, query, k)
            assert result.column("id").to_pylist() == want
            assert result.schema.names == search(node, name, query, k, local_only=True).schema.names
            assert missing_nodes(result) == []
            scores = result.column("score").to_pylist()
            assert scores == sorted(scores, reverse=True)
            # local_only: the node's own rows alone.
            local = search(node, name, query, k, local_only=True)
            assert local.column("id").to_pylist() == brute_force_ids(own_ids, own_vectors, query,
                                                                     k)
        # The VectorSearch action, a batch of queries: one merged stream per query.
        streams = node.data.do_action(flight.Action("VectorSearch", json.dumps(
            {"dataset": name, "vectors": queries.tolist(), "k": k, "ef": 400}).encode()))
        for query, stream in zip(queries, streams):
            table = pa.ipc.open_stream(stream.body.to_pybytes()).read_all()
            assert table.column("id").to_pylist() == brute_force_ids(ids, vectors, query, k)
        # DoExchange VectorSearch.
        answers = exchange_search(node, name, queries, k)
        assert len(answers) == len(queries)
        for query, (batch, metadata) in zip(queries, answers):
            assert batch.column("id").to_pylist() == brute_force_ids(ids, vectors, query, k)
            assert "missing_nodes" not in metadata
        answers = exchange_search(node, name, queries, k, local_only=True, timeout_ms=5000)
        for query, (batch, _) in zip(queries, answers):
            assert batch.column("id").to_pylist() == brute_force_ids(own_ids, own_vectors, query,
                                                                     k)


def scan_ticket(node: ServerProcess, ticket) -> pa.Table:
    text = ticket if isinstance(ticket, str) else json.dumps(ticket)
    return node.data.do_get(flight.Ticket(text.encode())).read_all()


def test_scans_cover_every_member_once_with_filters_columns_and_limit(cluster):
    name = unique_name("scan")
    tables = put_rows_to_each_node(cluster.nodes, name)
    all_ids = sorted(i for t in tables.values() for i in t.column("id").to_pylist())
    threshold = 5_000  # keeps node 0's rows (ids below 10,000) out: ids >= 10,000 only
    for i, node in enumerate(cluster.nodes):
        # A JSON scan and a bare-name ticket (FlightInfo's): every row of every member, once.
        for ticket in ({"dataset": name}, name):
            result = scan_ticket(node, ticket)
            assert sorted(result.column("id").to_pylist()) == all_ids
            assert missing_nodes(result) == []
        # This node's rows come first.
        own = tables[i].column("id").to_pylist()
        assert scan_ticket(node, {"dataset": name}).column("id").to_pylist()[:len(own)] == own
        result = scan_ticket(node, {"dataset": name, "columns": ["id"],
                                    "filters": [{"field": "id", "op": ">=",
                                                 "value": threshold}]})
        assert result.schema.names == ["id"]
        assert sorted(result.column("id").to_pylist()) == [x for x in all_ids if x >= threshold]
        # The limit holds over all members together.
        for limit in (0, 100, ROWS_PER_NODE + 30, 10_000):
            ids = scan_ticket(node, {"dataset": name, "limit": limit}).column("id").to_pylist()
            assert len(ids) == min(limit, len(all_ids)) and len(set(ids)) == len(ids)
            assert set(ids) <= set(all_ids)
        # local_only: the node's own rows alone.
        local = scan_ticket(node, {"dataset": name, "local_only": True})
        assert local.column("id").to_pylist() == own
    # A dataset no node holds is NOT_FOUND, as on a single node; bad cluster keys are named.
    with pytest.raises(pa.ArrowKeyError, match="not found"):
        scan_ticket(cluster.nodes[0], {"dataset": unique_name("nowhere")})
    with pytest.raises(pa.ArrowInvalid, match="'require_all' in scan ticket must be true or false"):
        scan_ticket(cluster.nodes[0], {"dataset": name, "require_all": 1})

    # A dead member is named missing, or with require_all fails the scan.
    victim = cluster.nodes[2]
    victim.proc.kill()
    victim.proc.wait(10)
    survivors = {i: tables[i] for i in (0, 1)}
    result = scan_ticket(cluster.nodes[0], {"dataset": name})
    assert sorted(result.column("id").to_pylist()) == sorted(all_rows(survivors)[0].tolist())
    missing = missing_nodes(result)
    assert [m["node"] for m in missing] in ([node_id(victim)], []), missing
    if missing:
        with pytest.raises(flight.FlightUnavailableError, match=node_id(victim)):
            scan_ticket(cluster.nodes[0], {"dataset": name, "require_all": True})


def test_stats_sum_every_member(cluster):
    name = unique_name("stats")
    put_rows_to_each_node(cluster.nodes, name)
    ids = [node_id(n) for n in cluster.nodes]
    for i, node in enumerate(cluster.nodes):
        [doc] = action(node.data, "stats", {"dataset": name})
        assert doc["rows"] == ROWS_PER_NODE  # this node's own figures, as on a single node
        summed = doc["cluster"]
        assert summed["rows"] == 3 * ROWS_PER_NODE and summed["deleted_rows"] == 0
        assert summed["bytes"] == sum(n["bytes"] for n in summed["nodes"]) > 0
        assert [n["node"] for n in summed["nodes"]][0] == ids[i]  # this node first
        assert sorted(n["node"] for n in summed["nodes"]) == sorted(ids)
        assert all(n["rows"] == ROWS_PER_NODE for n in summed["nodes"])
        assert summed["missing_nodes"] == []
        [local] = action(node.data, "stats", {"dataset": name, "local_only": True})
        assert local["rows"] == ROWS_PER_NODE and "cluster" not in local
        [every] = action(node.data, "stats")
        assert every["cluster"]["total_rows"] == 3 * ROWS_PER_NODE
        assert len(every["cluster"]["nodes"]) == 3
    # A dataset on node 1 only: its figures, the others named as missing it.
    only = unique_name("stats_one")
    put_table(cluster.nodes[1].data, only, make_table(40, d=DIM))
    [doc] = action(cluster.nodes[0].data, "stats", {"dataset": only})
    assert doc["rows"] == 40 and doc["cluster"]["rows"] == 40
    assert [n["node"] for n in doc["cluster"]["nodes"]] == [ids[1]]
    missing = {m["node"]: m["reason"] for m in doc["cluster"]["missing_nodes"]}
    assert set(missing) == {ids[0], ids[2]}
    assert all(reason.startswith("no dataset") for reason in missing.values())
    with pytest.raises(flight.FlightUnavailableError, match="require_all"):
        action(cluster.nodes[0].data, "stats", {"dataset": only, "require_all": True})
    with pytest.raises(pa.ArrowKeyError, match="not found"):
        action(cluster.nodes[0].data, "stats", {"dataset": unique_name("nowhere")})
    with pytest.raises(pa.ArrowInvalid, match="'timeout_ms' in body of action 'stats'"):
        action(cluster.nodes[0].data, "stats", {"dataset": name, "timeout_ms": 0})


def search_by_id(node: ServerProcess, name, id, k=10, **keys) -> dict:
    [answer] = action(node.data, "VectorSearchByID",
                      {"dataset": name, "id": id, "k": k, "ef": 400, **keys})
    return answer


def test_vector_search_by_id_across_members(cluster):
    name = unique_name("byid")
    tables = put_rows_to_each_node(cluster.nodes, name)
    ids, vectors = all_rows(tables)
    k = 10
    for holder in range(3):
        row = 7
        id = int(tables[holder].column("id")[row].as_py())
        query = vectors_of(tables[holder].column("vector"))[row]
        others = ids != id  # never its own neighbour
        want = brute_force_ids(ids[others], vectors[others], query, k)
        for node in cluster.nodes:  # from every node, whichever holds the id
            answer = search_by_id(node, name, id, k)
            assert answer["ids"] == want, (holder, node_id(node))
            assert "missing_nodes" not in answer
            assert answer["scores"] == sorted(answer["scores"], reverse=True)
        # local_only: the holder's own rows alone; a node without the id does not know it.
        own_ids = tables[holder].column("id").to_numpy()
        own_vectors = vectors_of(tables[holder].column("vector"))
        mine = own_ids != id
        local = search_by_id(cluster.nodes[holder], name, id, k, local_only=True)
        assert local["ids"] == brute_force_ids(own_ids[mine], own_vectors[mine], query, k)
        with pytest.raises(pa.ArrowKeyError, match=f"id {id} not found"):
            search_by_id(cluster.nodes[(holder + 1) % 3], name, id, k, local_only=True)
    # The request's filters hold with the id left out: node 0's rows only (ids below 10,000).
    id = int(tables[2].column("id")[0].as_py())
    query = vectors_of(tables[2].column("vector"))[0]
    node0_ids, node0_vectors = all_rows({0: tables[0]})
    answer = search_by_id(cluster.nodes[1], name, id, k,
                          filters=[{"field": "id", "op": "<", "value": 10_000}])
    assert answer["ids"] == brute_force_ids(node0_ids, node0_vectors, query, k)
    with pytest.raises(pa.ArrowKeyError, match="id 999999 not found in dataset .* on any member"):
        search_by_id(cluster.nodes[0], name, 999_999, k)


def test_dataset_on_some_nodes_reports_the_others_missing(cluster):
    name = unique_name("partial")
    table = make_table(ROWS_PER_NODE, d=DIM, rng=np.random.default_rng(9))
    put_table(cluster.nodes[0].data, name, table)
    query = vectors_of(table.column("vector"))[11]
    want = brute_force_ids(table.column("id").to_numpy(), vectors_of(table.column("vector")),
                           query, 5)
    # From a node without the dataset: the rows of the node that has it; the others missing.
    result = search(cluster.nodes[1], name, query, 5)
    assert result.column("id").to_pylist() == want
    missing = {m["node"]: m["reason"] for m in missing_nodes(result)}
    assert set(missing) == {node_id(cluster.nodes[1]), node_id(cluster.nodes[2])}
    assert all(reason.startswith("no dataset") for reason in missing.values()), missing
    with pytest.raises(flight.FlightUnavailableError, match="require_all"):
        search(cluster.nodes[1], name, query, 5, require_all=True)
    # DoExchange: the same, the missing members in the query's app_metadata.
    [(batch, metadata)] = exchange_search(cluster.nodes[2], name, [query], 5)
    assert batch.column("id").to_pylist() == want
    assert {m["node"] for m in metadata["missing_nodes"]} == set(missing)
    with pytest.raises(flight.FlightUnavailableError, match="require_all"):
        exchange_search(cluster.nodes[2], name, [query], 5, require_all=True)
    with pytest.raises(pa.ArrowInvalid, match="local_only"):
        exchange_search(cluster.nodes[2], name, [query], 5, local_only=1)
    # A dataset no node holds: NOT_FOUND, as on a single node.
    with pytest.raises(pa.ArrowKeyError):
        search(cluster.nodes[2], unique_name("nowhere"), query, 5)
    # Bad cluster keys are refused with the key named.
    with pytest.raises(pa.ArrowInvalid, match="timeout_ms"):
        search(cluster.nodes[0], name, query, 5, timeout_ms=0)
    with pytest.raises(pa.ArrowInvalid, match="require_all"):
        search(cluster.nodes[0], name, query, 5, require_all="yes")


def test_hybrid_search_action_fans_out_and_names_missing_members(cluster):
    name = unique_name("hybrid")
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIM)),
                        ("text", pa.string())], metadata={"longbow.text.columns": "text"})
    rng = np.random.default_rng(3)
    for i in (0, 1):  # node 2 has no such dataset
        texts = [f"apple pie {j}" if j % 5 == 0 else f"banana split {j}" for j in range(40)]
        put_table(cluster.nodes[i].data, name, pa.table(
            [pa.array(np.arange(i * 1000, i * 1000 + 40)),
             vector_array(rng.standard_normal((40, DIM), dtype=np.float32)), pa.array(texts)],
            schema=schema))
    replies = action(cluster.nodes[1].data, "HybridSearch",
                     {"dataset": name, "text_query": "apple", "alpha": 0, "k": 30})
    hits = replies[0]
    # Every "apple" row of both nodes, best first, with the action's default keys only.
    assert {hit["id"] for hit in hits} == {i * 1000 + j for i in (0, 1) for j in range(0, 40, 5)}
    assert [hit["score"] for hit in hits] == sorted((hit["score"] for hit in hits), reverse=True)
    assert all(set(hit) == {"id", "score", "distance"} for hit in hits)
    missing = replies[1]["missing_nodes"]
    assert [m["node"] for m in missing] == [node_id(cluster.nodes[2])]
    assert missing[0]["reason"].startswith("no dataset")
    # Its own rows alone with local_only, and no second Result.
    replies = action(cluster.nodes[1].data, "HybridSearch",
                     {"dataset": name, "text_query": "apple", "alpha": 0, "k": 30,
                      "local_only": True})
    assert len(replies) == 1
    assert {hit["id"] for hit in replies[0]} == {1000 + j for j in range(0, 40, 5)}


def thread_states(pid: int) -> set[str]:
    """The states (R, S, T, ...) of the process's threads, from /proc."""
    return {stat.rsplit(")", 1)[1].split()[0] for stat in thread_files(pid, "stat")}


def test_member_that_does_not_answer_in_time_is_reported_missing(tmp_path):
    # A long lease: the stopped node stays listed while it does not answer.
    c = Cluster(tmp_path, unique_name("slow"), lease_ttl_s=120)
    try:
        nodes = [c.add_node(i) for i in range(2)]
        wait_for_members(nodes, {node_id(n) for n in nodes}, "both members listed")
        name = unique_name("slow")
        tables = put_rows_to_each_node(nodes, name)
        query = vectors_of(tables[0].column("vector"))[0]
        nodes[1].send_signal(signal.SIGSTOP)
        try:
            # SIGSTOP reaches each thread on its way back to user mode: wait until all stopped
            # (a thread still running answered a search once, in a loaded full run).
            wait_until(lambda: thread_states(nodes[1].proc.pid), lambda s: s == {"T"},
                       "every thread of the node stopped")
            result = search(nodes[0], name, query, 10, timeout_ms=500)
            missing = missing_nodes(result)
            # Seen once in a loaded full run: no member missing. Say what node 0 saw then.
            assert [m["node"] for m in missing] == [node_id(nodes[1])], (
                missing, result.column("id").to_pylist(), cluster_status(nodes[0]),
                nodes[0].stderr()[-4000:])
            assert missing[0]["reason"].startswith("timeout"), missing
            own = tables[0]
            assert result.column("id").to_pylist() == brute_force_ids(
                own.column("id").to_numpy(), vectors_of(own.column("vector")), query, 10)
            with pytest.raises(flight.FlightUnavailableError, match="timeout"):
                search(nodes[0], name, query, 10, timeout_ms=500, require_all=True)
        finally:
            nodes[1].send_signal(signal.SIGCONT)
        # Answering again: the next search is complete.
        wait_until(lambda: missing_nodes(search(nodes[0], name, query, 10)), lambda m: m == [],
                   "the resumed member to answer again", timeout=MEMBERSHIP_DEADLINE_S)
    finally:
        c.stop()


# -- deletes ---------------------------------------------------------------------------------

def local_ids(node: ServerProcess, name) -> list:
    return scan_ticket(node, {"dataset": name, "local_only": True}).column("id").to_pylist()


def test_delete_on_one_node_deletes_on_every_member(cluster):
    name = unique_name("del")
    tables = put_rows_to_each_node(cluster.nodes, name)
    ids = [node_id(n) for n in cluster.nodes]
    # Two rows of each node and an id no node holds, sent to node 1: every member deletes its
    # own, and the counts add up.
    doomed = [t.column("id").to_pylist()[j] for t in tables.values() for j in (0, 7)]
    [answer] = action(cluster.nodes[1].data, "delete", {"dataset": name, "ids": doomed + [999_999]})
    assert answer["deleted"] == 6 and answer["missing_nodes"] == []
    assert answer["nodes"][0] == {"node": ids[1], "deleted": 2}  # this node first
    assert sorted(n["node"] for n in answer["nodes"]) == sorted(ids)
    assert all(n["deleted"] == 2 for n in answer["nodes"])
    for i, node in enumerate(cluster.nodes):
        expected = [x for x in tables[i].column("id").to_pylist() if x not in doomed]
        assert local_ids(node, name) == expected
    # Deleted already: 0, not an error. One id, local_only: this node's rows alone.
    [again] = action(cluster.nodes[0].data, "delete", {"dataset": name, "ids": doomed})
    assert again["deleted"] == 0
    own = tables[2].column("id").to_pylist()[1]
    other = tables[0].column("id").to_pylist()[1]
    for id in (own, other):
        [local] = action(cluster.nodes[2].data, "delete",
                         {"dataset": name, "id": id, "local_only": True})
        assert local == {"deleted": 1 if id == own else 0}
    assert other in local_ids(cluster.nodes[0], name)

    # A dataset on node 2 only: the members without it deleted nothing and are not missing;
    # one no member holds is NOT_FOUND; a bad body is refused before anything is deleted.
    only = unique_name("del_one")
    put_table(cluster.nodes[2].data, only, make_table(20, d=DIM))
    [answer] = action(cluster.nodes[0].data, "delete",
                      {"dataset": only, "ids": [0, 1, 2], "require_all": True})
    assert answer["deleted"] == 3 and answer["missing_nodes"] == []
    assert {n["node"]: n["deleted"] for n in answer["nodes"]} == {ids[0]: 0, ids[1]: 0, ids[2]: 3}
    with pytest.raises(pa.ArrowKeyError, match="not found"):
        action(cluster.nodes[0].data, "delete", {"dataset": unique_name("nowhere"), "id": 1})
    with pytest.raises(pa.ArrowInvalid, match="'require_all' in body of action 'delete'"):
        action(cluster.nodes[0].data, "delete", {"dataset": name, "id": 1, "require_all": "yes"})

    # A dead member is named missing (while it is listed), or with require_all fails the
    # delete, naming it; the members that answered have deleted their rows all the same.
    victim = cluster.nodes[2]
    victim.proc.kill()
    victim.proc.wait(10)
    survivors_doomed = [tables[i].column("id").to_pylist()[3] for i in (0, 1)]
    [answer] = action(cluster.nodes[0].data, "delete", {"dataset": name, "ids": survivors_doomed})
    assert answer["deleted"] == 2
    missing = answer["missing_nodes"]
    assert [m["node"] for m in missing] in ([ids[2]], []), answer
    if missing:
        assert missing[0]["reason"].startswith(("unavailable", "timeout", "error")), missing
        with pytest.raises(flight.FlightUnavailableError, match=ids[2]):
            action(cluster.nodes[0].data, "delete",
                   {"dataset": name, "id": tables[1].column("id").to_pylist()[4],
                    "require_all": True})
    for i in (0, 1):
        assert survivors_doomed[i] not in local_ids(cluster.nodes[i], name)


# -- readiness -------------------------------------------------------------------------------

def readiness(node: ServerProcess, **body) -> dict:
    return action(node.data, "check_readiness", body)[0]


def test_check_readiness_covers_every_member(cluster):
    name = unique_name("ready")
    put_rows_to_each_node(cluster.nodes, name)
    ids = [node_id(n) for n in cluster.nodes]
    # Waits for every member: READY once all rows of all three are indexed.
    answer = readiness(cluster.nodes[0], dataset=name, wait=60)
    assert answer["status"] == "READY", answer
    assert answer["index_len"] == 3 * ROWS_PER_NODE and answer["pending"] == 0
    assert [n["node"] for n in answer["nodes"]][0] == ids[0]  # this node first
    assert sorted(n["node"] for n in answer["nodes"]) == sorted(ids)
    assert all(n["status"] == "READY" and n["index_len"] == ROWS_PER_NODE
               for n in answer["nodes"])
    assert answer["missing_nodes"] == []
    # local_only: today's answer, this node's rows alone.
    local = readiness(cluster.nodes[1], dataset=name, local_only=True)
    assert local["status"] == "READY" and local["index_len"] == ROWS_PER_NODE
    assert "nodes" not in local
    # A dataset on one member: READY (the others lack it); on none: NOT_FOUND.
    only = unique_name("ready_one")
    put_table(cluster.nodes[2].data, only, make_table(30, d=DIM))
    answer = readiness(cluster.nodes[0], dataset=only, wait=60)
    assert answer["status"] == "READY" and answer["index_len"] == 30, answer
    assert {n["node"]: n["status"] for n in answer["nodes"]} == {
        ids[0]: "NOT_FOUND", ids[1]: "NOT_FOUND", ids[2]: "READY"}
    assert readiness(cluster.nodes[0], dataset=unique_name("nowhere"))["status"] == "NOT_FOUND"
    # Every dataset of every member.
    assert readiness(cluster.nodes[1], wait=60)["index_len"] == 3 * ROWS_PER_NODE + 30
    with pytest.raises(pa.ArrowInvalid, match="'local_only' in body of action 'check_readiness'"):
        readiness(cluster.nodes[0], dataset=name, local_only="no")

    # A dead member, while listed, is missing: not READY (its state is unknown), and with
    # require_all an error naming it.
    victim = cluster.nodes[2]
    victim.proc.kill()
    victim.proc.wait(10)
    answer = readiness(cluster.nodes[0], dataset=name)
    missing = [m["node"] for m in answer["missing_nodes"]]
    assert missing in ([ids[2]], []), answer
    assert answer["status"] == ("BUSY" if missing else "READY"), answer
    if missing:
        with pytest.raises(flight.FlightUnavailableError, match=ids[2]):
            readiness(cluster.nodes[0], dataset=name, require_all=True)
    wait_for_members(cluster.nodes[:2], set(ids[:2]), f"{ids[2]} to leave")
    answer = readiness(cluster.nodes[0], dataset=name, require_all=True)
    assert answer["status"] == "READY" and answer["index_len"] == 2 * ROWS_PER_NODE, answer
