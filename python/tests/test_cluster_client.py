"""The client against a cluster (docs/cluster.md): a real etcd and two nodes. A search through
either node finds the rows of both; local_only keeps to the node's own; a dead member is listed
by missing_nodes() (one query and many) and require_all turns that into Unavailable. On a
single server, cluster_status() says so and the cluster keys change nothing."""

from __future__ import annotations

import signal

import numpy as np
import pytest

import arbalest_client as ab
from arbalest_util import ServerProcess, wait_until
from etcd_util import EtcdProcess

DIM = 8


def test_single_server_cluster_keys(db, name):
    assert db.cluster_status()["mode"] == "single"
    rows = np.random.default_rng(1).standard_normal((30, DIM), dtype=np.float32)
    ds = db.create_dataset(name, data={"id": np.arange(30), "vector": list(rows)})
    plain = ds.search(rows[0], k=5)
    assert ab.missing_nodes(plain) == []
    assert ds.search(rows[0], k=5, local_only=True, require_all=True, timeout_ms=1000) \
        .column("id").to_pylist() == plain.column("id").to_pylist()


def test_search_through_a_cluster(tmp_path, name):
    etcd = EtcdProcess(tmp_path).start()
    # Unsharded (each node holds the rows put to it): local_only answers one node's own rows.
    flags = ["--cluster-etcd", etcd.url, "--cluster-name", "client", "--cluster-lease-ttl", "30",
             "--cluster-shards", "0"]
    nodes = [ServerProcess(tmp_path / f"node{i}", extra_args=flags).start() for i in range(2)]
    clients = [ab.Client(f"grpc://127.0.0.1:{node.port}") for node in nodes]
    try:
        wait_until(lambda: clients[0].cluster_status(), lambda s: len(s["members"]) == 2,
                   "both members listed")
        rng = np.random.default_rng(2)
        rows = {}
        for i in range(2):
            rows[i] = rng.standard_normal((50, DIM), dtype=np.float32)
        data = [{"id": np.arange(i * 100, i * 100 + 50), "vector": list(rows[i])} for i in range(2)]
        clients[0].create_dataset(name, data=data[0])
        # The catalog is the cluster's: created through node 0, the dataset exists on node 1
        # too (GetSchema, ListFlights); node 1's own rows go in with insert.
        assert name in clients[1] and name in clients[1].datasets()
        with pytest.raises(ab.AlreadyExists, match="already exists"):
            clients[1].create_dataset(name, data=data[1])
        clients[1][name].insert(data[1])
        everything = np.concatenate([rows[0], rows[1]])
        all_ids = np.concatenate([np.arange(50), np.arange(100, 150)])
        query = rows[1][3]
        want = all_ids[np.argsort(((everything - query) ** 2).sum(axis=1))[:5]].tolist()
        result = clients[0][name].search(query, k=5, ef=200)
        assert result.column("id").to_pylist() == want
        assert ab.missing_nodes(result) == []
        local = clients[0][name].search(query, k=5, local_only=True)
        assert all(i < 100 for i in local.column("id").to_pylist())

        nodes[1].proc.kill()
        nodes[1].proc.wait(10)
        result = clients[0][name].search(query, k=5)
        assert [m["node"] for m in ab.missing_nodes(result)] == [f"127.0.0.1-{nodes[1].port}"]
        many = clients[0][name].search(np.stack([query, rows[0][0]]), k=3)
        assert [m["node"] for m in ab.missing_nodes(many)] == [f"127.0.0.1-{nodes[1].port}"]
        with pytest.raises(ab.Unavailable, match="require_all"):
            clients[0][name].search(query, k=5, require_all=True)
    finally:
        for client in clients:
            client.close()
        for node in nodes:
            node.stop(signal.SIGTERM)
        etcd.kill()
