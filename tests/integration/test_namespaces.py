"""Namespaces over the wire, with the Go system's action names and answers: datasets named
"namespace/name", plain names in the default namespace; creation and deletion durable through
the WAL (a deletion drops the namespace's datasets with it, all or nothing); bad input answered
with a clear error while the server serves on."""

from __future__ import annotations

import signal

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, make_table, put_table, scan,
                           unique_name)


def one(client, kind, body=None):
    results = action(client, kind, body)
    assert len(results) == 1, results
    return results[0]


def namespaces(client) -> list:
    return one(client, "ListNamespaces")["namespaces"]


def test_create_list_count_and_delete_with_longbow_answers(server):
    ns = unique_name("ns")
    client = server.meta
    assert one(client, "CreateNamespace", {"name": ns})["status"] == "created"
    listed = one(client, "ListNamespaces")
    assert listed["namespaces"][0] == "default"
    assert ns in listed["namespaces"] and listed["count"] == len(listed["namespaces"])
    assert one(client, "GetTotalNamespaceCount")["count"] == listed["count"]
    assert one(client, "GetNamespaceDatasetCount", {"name": ns})["count"] == 0

    table = make_table(50, 8)
    put_table(server.data, f"{ns}/docs", table)
    put_table(server.data, f"{ns}/more", table)
    plain = unique_name("plain")
    put_table(server.data, plain, table)
    assert one(client, "GetNamespaceDatasetCount", {"name": ns})["count"] == 2
    assert scan(server.data, f"{ns}/docs").num_rows == 50
    flights = {info.descriptor.path[0].decode() for info in server.data.list_flights()}
    assert {f"{ns}/docs", f"{ns}/more", plain} <= flights

    deleted = one(client, "DeleteNamespace", {"name": ns})
    assert deleted["status"] == "deleted"
    assert sorted(deleted["datasets_deleted"]) == [f"{ns}/docs", f"{ns}/more"]
    assert ns not in namespaces(client)
    with pytest.raises(NOT_FOUND, match=f"dataset '{ns}/docs' not found"):
        scan(server.data, f"{ns}/docs")
    assert scan(server.data, plain).num_rows == 50  # the default namespace's data is untouched


def test_bad_input_is_refused_and_the_server_serves_on(server):
    client = server.meta
    ghost = unique_name("ghost")
    with pytest.raises(NOT_FOUND, match=f"namespace '{ghost}' of dataset '{ghost}/x' not found"):
        put_table(server.data, f"{ghost}/x", make_table(5, 8))
    with pytest.raises(NOT_FOUND, match=f"namespace '{ghost}' not found"):
        one(client, "DeleteNamespace", {"name": ghost})
    with pytest.raises(NOT_FOUND, match=f"namespace '{ghost}' not found"):
        one(client, "GetNamespaceDatasetCount", {"name": ghost})
    for bad in ["a/b", "", "with space", "x" * 129]:
        with pytest.raises(INVALID_ARGUMENT, match="invalid namespace name"):
            one(client, "CreateNamespace", {"name": bad})
    with pytest.raises(INVALID_ARGUMENT, match="default namespace cannot be deleted"):
        one(client, "DeleteNamespace", {"name": "default"})
    with pytest.raises(INVALID_ARGUMENT, match="needs \\{\"name\": namespace\\}"):
        one(client, "CreateNamespace", {})
    with pytest.raises(INVALID_ARGUMENT, match="is not valid JSON"):
        one(client, "CreateNamespace", "{not json")
    with pytest.raises(INVALID_ARGUMENT, match="named without it, 'docs'"):
        put_table(server.data, "default/docs", make_table(5, 8))
    ns = unique_name("twice")
    one(client, "CreateNamespace", {"name": ns})
    with pytest.raises(INVALID_ARGUMENT, match=f"namespace '{ns}' already exists"):
        one(client, "CreateNamespace", {"name": ns})
    with pytest.raises(INVALID_ARGUMENT, match="namespace 'default' already exists"):
        one(client, "CreateNamespace", {"name": "default"})
    # Still serving, nothing half-made.
    assert ghost not in namespaces(client)
    assert "default" in namespaces(client)
    put_table(server.data, f"{ns}/ok", make_table(5, 8))
    assert scan(server.data, f"{ns}/ok").num_rows == 5


@pytest.mark.parametrize("checkpoint", [False, True])
def test_namespaces_and_their_drops_survive_sigkill(start_server, checkpoint):
    # A small WAL segment size, so that the checkpoint after a snapshot deletes the segments
    # holding the namespace records: the namespace set must survive that too.
    args = ["--wal-segment-size", "64KiB"]
    srv = start_server(extra_args=args)
    client = srv.meta
    table = make_table(300, 8)
    one(client, "CreateNamespace", {"name": "kept"})
    one(client, "CreateNamespace", {"name": "gone"})
    put_table(srv.data, "kept/a", table)
    put_table(srv.data, "gone/b", table)
    put_table(srv.data, "gone/c", table)
    put_table(srv.data, "plain", table)
    if checkpoint:
        one(client, "snapshot")
        put_table(srv.data, "kept/a", table)  # the log goes on past the checkpoint
    one(client, "DeleteNamespace", {"name": "gone"})
    if checkpoint:
        one(client, "snapshot")
        assert (srv.data_dir / "snapshots" / "NAMESPACES.json").exists()
    srv.stop(signal.SIGKILL)
    srv.start()  # the same data dir

    client = srv.meta
    assert namespaces(client) == ["default", "kept"]
    assert one(client, "GetNamespaceDatasetCount", {"name": "kept"})["count"] == 1
    assert scan(srv.data, "kept/a").num_rows == (600 if checkpoint else 300)
    assert scan(srv.data, "plain").num_rows == 300
    for dropped in ["gone/b", "gone/c"]:
        with pytest.raises(NOT_FOUND):
            scan(srv.data, dropped)
    with pytest.raises(NOT_FOUND, match="namespace 'gone'"):
        put_table(srv.data, "gone/b", table)
    # The name can be used again, empty.
    one(client, "CreateNamespace", {"name": "gone"})
    assert one(client, "GetNamespaceDatasetCount", {"name": "gone"})["count"] == 0
