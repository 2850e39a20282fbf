"""The knowledge-graph edge store over the wire, with the Go system's request and answer
shapes: add-edge, bulk loads by DoPut to [dataset, "edges"], traverse-graph, GetGraphStats;
edges durable (acked = survives SIGKILL), in snapshots, removed with their rows and with their
dataset; bad input answered with a clear error while the server serves on."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, action, make_table, put_table, unique_name)


def raw_action(client, kind, body) -> list[bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [r.body.to_pybytes() for r in client.do_action(flight.Action(kind, raw))]


def add_edge(client, ds, subject, predicate, obj, weight=1.0):
    reply = raw_action(client, "add-edge", {"dataset": ds, "subject": subject,
                                            "predicate": predicate, "object": obj,
                                            "weight": weight})
    assert reply == [b"edge added"]


def put_edges(client, ds, edges: pa.Table) -> list[dict]:
    return put_table(client, ds, edges, descriptor=flight.FlightDescriptor.for_path(ds, "edges"))


def traverse(client, ds, start, **keys) -> list:
    results = action(client, "traverse-graph", {"dataset": ds, "start": start, **keys})
    assert len(results) == 1, results
    return results[0]


def graph_stats(client, ds) -> dict:
    return action(client, "GetGraphStats", {"dataset": ds})[0]


def edges_table(rows) -> pa.Table:
    subjects, predicates, objects, weights = zip(*rows)
    return pa.table({"subject": pa.array(subjects, pa.int64()),
                     "predicate": pa.array(predicates, pa.string()),
                     "object": pa.array(objects, pa.int64()),
                     "weight": pa.array(weights, pa.float32())})


def two_cliques() -> pa.Table:
    """Rows 0-4 all linked, rows 10-14 all linked, one weak bridge 4 -> 10."""
    rows = []
    for base in (0, 10):
        for a in range(base, base + 5):
            for b in range(base, base + 5):
                if a != b:
                    rows.append((a, "near", b, 1.0))
    rows.append((4, "bridge", 10, 0.1))
    return edges_table(rows)


def test_add_edge_and_traverse_with_longbow_shapes(server, ds):
    put_table(server.data, ds, make_table(20, 8))
    add_edge(server.meta, ds, 1, "cites", 2, 0.5)
    add_edge(server.meta, ds, 2, "cites", 3, 0.8)
    add_edge(server.meta, ds, 1, "mentions", 3, 0.2)
    paths = traverse(server.meta, ds, 1, max_hops=2, weighted=True, decay=0.5)
    by_nodes = {tuple(p["Nodes"]): p for p in paths}
    assert set(by_nodes) == {(1, 2), (1, 2, 3), (1, 3)}
    assert by_nodes[(1, 2)]["Edges"] == [
        {"Subject": 1, "Predicate": "cites", "Object": 2, "Weight": 0.5}]
    assert by_nodes[(1, 2)]["Score"] == pytest.approx(0.5)
    assert by_nodes[(1, 2, 3)]["Score"] == pytest.approx(0.5 * 0.8 * 0.5)  # decayed second hop
    assert by_nodes[(1, 3)]["Score"] == pytest.approx(0.2)
    assert [p["Score"] for p in paths] == sorted((p["Score"] for p in paths), reverse=True)
    # Default: 2 hops, unweighted, outgoing.
    assert {tuple(p["Nodes"]) for p in traverse(server.meta, ds, 1)} == set(by_nodes)
    assert [p["Nodes"] for p in traverse(server.meta, ds, 3, incoming=True, max_hops=1)] in (
        [[3, 2], [3, 1]], [[3, 1], [3, 2]])
    assert traverse(server.meta, ds, 1, predicates=["mentions"]) == [
        {"Nodes": [1, 3], "Edges": [{"Subject": 1, "Predicate": "mentions", "Object": 3,
                                     "Weight": pytest.approx(0.2)}], "Score": 1.0}]
    assert traverse(server.meta, ds, 7) == []  # a row without edges


def test_bulk_load_and_graph_stats_finds_the_communities(server, ds):
    put_table(server.data, ds, make_table(20, 8))
    acks = put_edges(server.data, ds, two_cliques())
    assert acks == [{"status": "acked", "edges": 41}]
    stats = graph_stats(server.meta, ds)
    assert stats["edge_count"] == 41
    assert stats["node_count"] == 10
    assert stats["community_count"] == 2
    assert stats["community_algorithm"] == "label_propagation"
    assert stats["predicates"] == ["bridge", "near"]


def test_deleting_rows_removes_their_edges(server, ds):
    put_table(server.data, ds, make_table(20, 8))
    put_edges(server.data, ds, two_cliques())
    assert action(server.meta, "delete", {"dataset": ds, "id": 4})[0]["deleted"] == 1
    stats = graph_stats(server.meta, ds)
    assert stats["edge_count"] == 41 - 8 - 1  # 4's clique edges both ways and the bridge
    assert stats["predicates"] == ["near"]
    assert all(4 not in p["Nodes"] for p in traverse(server.meta, ds, 0))
    with pytest.raises(NOT_FOUND, match="start id 4 is not a row"):
        traverse(server.meta, ds, 4)
    with pytest.raises(NOT_FOUND, match="id 4 \\(object of edge 0\\) is not a row"):
        add_edge(server.meta, ds, 0, "near", 4)


def test_dropping_the_dataset_drops_its_edges(server, ds):
    put_table(server.data, ds, make_table(20, 8))
    put_edges(server.data, ds, two_cliques())
    action(server.meta, "delete-dataset", {"dataset": ds})
    put_table(server.data, ds, make_table(20, 8))
    assert graph_stats(server.meta, ds)["edge_count"] == 0


def test_bad_input_is_refused_and_the_server_serves_on(server, ds):
    put_table(server.data, ds, make_table(20, 8))
    meta = server.meta
    with pytest.raises(NOT_FOUND, match="dataset 'no_such' not found"):
        add_edge(meta, "no_such", 1, "p", 2)
    with pytest.raises(NOT_FOUND, match="dataset 'no_such' not found"):
        traverse(meta, "no_such", 1)
    with pytest.raises(NOT_FOUND, match="dataset 'no_such' not found"):
        put_edges(server.data, "no_such", edges_table([(1, "p", 2, 1.0)]))
    with pytest.raises(NOT_FOUND, match="dataset 'no_such' not found"):
        graph_stats(meta, "no_such")
    with pytest.raises(INVALID_ARGUMENT, match="needs 'predicate'"):
        raw_action(meta, "add-edge", {"dataset": ds, "subject": 1, "object": 2})
    with pytest.raises(INVALID_ARGUMENT, match="needs 'subject'"):
        raw_action(meta, "add-edge", {"dataset": ds, "predicate": "p", "object": 2})
    with pytest.raises(NOT_FOUND, match="id 999 \\(object of edge 0\\) is not a row"):
        add_edge(meta, ds, 1, "p", 999)
    with pytest.raises(NOT_FOUND, match="start id 999 is not a row"):
        traverse(meta, ds, 999)
    with pytest.raises(INVALID_ARGUMENT, match="'max_hops' .* must be 1 to 10, got -1"):
        traverse(meta, ds, 1, max_hops=-1)
    with pytest.raises(INVALID_ARGUMENT, match="'decay' .* must be in \\(0, 1\\]"):
        traverse(meta, ds, 1, decay=2)
    with pytest.raises(INVALID_ARGUMENT, match="is not valid JSON"):
        raw_action(meta, "traverse-graph", b"{not json")
    with pytest.raises(INVALID_ARGUMENT, match="'weight' is not finite in row 0"):
        put_edges(server.data, ds, edges_table([(1, "p", 2, float("nan"))]))
    with pytest.raises(INVALID_ARGUMENT, match="edges need a 'predicate' column"):
        put_edges(server.data, ds, pa.table({"subject": [1], "object": [2]}))
    with pytest.raises(NOT_FOUND, match="id 77 \\(subject of edge 1\\)"):
        put_edges(server.data, ds, edges_table([(1, "p", 2, 1.0), (77, "p", 2, 1.0)]))
    # Nothing of the refused loads was stored, and the server still serves.
    assert graph_stats(meta, ds)["edge_count"] == 0
    add_edge(meta, ds, 1, "p", 2)
    assert graph_stats(meta, ds)["edge_count"] == 1


def test_string_ids_cannot_hold_edges(server, ds):
    put_table(server.data, ds, make_table(5, 8, id_type=pa.string()))
    with pytest.raises(INVALID_ARGUMENT, match="edges name rows by integer id"):
        add_edge(server.meta, ds, 1, "p", 2)


@pytest.mark.parametrize("snapshot", [False, True])
def test_acked_edges_survive_sigkill(start_server, snapshot):
    srv = start_server()
    ds = unique_name("kill")
    put_table(srv.data, ds, make_table(20, 8))
    put_edges(srv.data, ds, two_cliques())
    if snapshot:
        action(srv.meta, "snapshot", {"dataset": ds})
    add_edge(srv.meta, ds, 14, "late", 0, 2.0)
    action(srv.meta, "delete", {"dataset": ds, "id": 12})
    add_edge(srv.meta, ds, 13, "late", 1, 3.0)
    before = graph_stats(srv.meta, ds)
    paths_before = traverse(srv.meta, ds, 13, max_hops=3, weighted=True)
    srv.stop(signal.SIGKILL)
    srv.start()
    assert graph_stats(srv.meta, ds) == before
    assert before["edge_count"] == 41 - 8 + 2
    assert traverse(srv.meta, ds, 13, max_hops=3, weighted=True) == paths_before
    # And once more through a snapshot taken after the restart.
    action(srv.meta, "snapshot", {"dataset": ds})
    srv.stop(signal.SIGKILL)
    srv.start()
    assert graph_stats(srv.meta, ds) == before


def test_graph_search_expands_dense_hits_by_their_neighbourhood(server, ds):
    # Rows 0..9 on a line: the query sits on row 0, so the dense top 3 is 0, 1, 2. Row 9, far
    # away, is linked from row 0 and must come in through the graph with the path that led there.
    import numpy as np
    from arbalest_util import vector_array
    vectors = np.zeros((10, 4), dtype=np.float32)
    vectors[:, 0] = np.arange(10, dtype=np.float32)
    put_table(server.data, ds, pa.table({"id": pa.array(range(10), pa.int64()),
                                         "vector": vector_array(vectors)}))
    add_edge(server.meta, ds, 0, "about", 9, 1.0)
    add_edge(server.meta, ds, 2, "about", 8, 0.5)
    body = {"dataset": ds, "vector": [0.0, 0.0, 0.0, 0.0], "k": 3,
            "graph": {"max_hops": 1, "alpha": 0.5}}
    hits = action(server.meta, "GraphSearch", body)[0]
    rrf = lambda rank: 1 / (60 + rank + 1)
    expected = {0: 0.5 * rrf(0), 1: 0.5 * rrf(1), 2: 0.5 * rrf(2), 9: 0.5 * rrf(0) * 1.0,
                8: 0.5 * rrf(2) * 0.5}
    best = sorted(expected, key=lambda i: -expected[i])[:3]
    assert [h["id"] for h in hits] == best
    for hit in hits:
        assert hit["score"] == pytest.approx(expected[hit["id"]])
    by_id = {h["id"]: h for h in hits}
    assert by_id[9]["dense_rank"] is None and by_id[9]["dense_score"] is None
    assert by_id[9]["path"]["Nodes"] == [0, 9]
    assert by_id[9]["path"]["Edges"][0]["Predicate"] == "about"
    assert by_id[0]["dense_rank"] == 0 and by_id[0]["path"] is None
    # alpha 0: the dense ranking alone.
    body["graph"]["alpha"] = 0
    assert [h["id"] for h in action(server.meta, "GraphSearch", body)[0]] == [0, 1, 2]
    with pytest.raises(INVALID_ARGUMENT, match="'max_hops' in 'graph'"):
        action(server.meta, "GraphSearch", {**body, "graph": {"max_hops": -1}})


def test_edges_are_charged_to_max_memory(start_server):
    srv = start_server(extra_args=["--max-memory", "48MiB"])
    ds = unique_name("mem")
    put_table(srv.data, ds, make_table(1000, 8))
    batch = edges_table([(i % 1000, "p", (i * 7) % 1000, 1.0) for i in range(200_000)])
    acked, refused = 0, None
    for _ in range(20):  # 4M edges (about 96 MiB of edge log) cannot fit
        try:
            acked += put_edges(srv.data, ds, batch)[0]["edges"]
        except flight.FlightUnavailableError as e:
            refused = str(e)
            break
    assert refused is not None, f"{acked} edges accepted under --max-memory 48MiB"
    assert "resource exhausted" in refused and "these edges" in refused, refused
    assert acked > 0
    # Nothing of the refused batch was stored, and the server serves on.
    assert graph_stats(srv.meta, ds)["edge_count"] == acked
    action(srv.meta, "delete-dataset", {"dataset": ds})
    ds2 = unique_name("after")
    put_table(srv.data, ds2, make_table(1000, 8))
    put_edges(srv.data, ds2, batch)  # the dropped dataset's edges gave their memory back


NO_SNAPSHOT_TRIGGERS = ["--snapshot-interval", "0", "--snapshot-wal-bytes", "0"]


def snapshot_with_edges(srv) -> tuple[str, dict, Path]:
    """A dataset with edges, snapshotted (the WAL checkpointed), the server SIGKILLed: returns
    the dataset, its graph stats and its snapshot directory."""
    ds = unique_name("snapedges")
    put_table(srv.data, ds, make_table(20, 8))
    put_edges(srv.data, ds, two_cliques())
    before = graph_stats(srv.meta, ds)
    lsn = action(srv.meta, "snapshot", {"dataset": ds})[0]["snapshot"][0]["lsn"]
    srv.stop(signal.SIGKILL)
    [snapshot] = (srv.data_dir / "snapshots").glob(f"{ds}@{lsn}-*")
    return ds, before, snapshot


def test_the_manifest_records_the_edges_file_and_older_manifests_still_load(start_server):
    srv = start_server(NO_SNAPSHOT_TRIGGERS)
    ds, before, snapshot = snapshot_with_edges(srv)
    manifest_path = snapshot / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["files"]["edges"]
    assert entry["name"] == "edges.parquet"
    assert entry["bytes"] == (snapshot / "edges.parquet").stat().st_size
    assert len(entry["xxh3"]) == 16 and int(entry["xxh3"], 16) >= 0
    srv.start()
    assert graph_stats(srv.meta, ds) == before
    # A manifest written before the edges file was recorded in it: loaded all the same.
    srv.stop(signal.SIGKILL)
    del manifest["files"]["edges"]
    manifest_path.write_text(json.dumps(manifest))
    srv.start()
    assert graph_stats(srv.meta, ds) == before


def test_a_corrupt_edges_file_stops_startup_naming_it(start_server):
    srv = start_server(NO_SNAPSHOT_TRIGGERS)
    _, _, snapshot = snapshot_with_edges(srv)
    edges = snapshot / "edges.parquet"
    raw = bytearray(edges.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    edges.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="exited with code 1"):
        srv.start(attempts=1)
    assert str(edges) in srv.stderr(), srv.stderr_tail()
    assert "checksum" in srv.stderr(), srv.stderr_tail()


def line_with_links(server, ds):
    """Rows 0..9 on a line, each with a tag; the query [0, 0, 0, 0] sits on row 0. Edges
    0 -> 9 (weight 1) and 2 -> 8 (weight 0.5) bring far rows in through the graph."""
    import numpy as np
    from arbalest_util import vector_array
    vectors = np.zeros((10, 4), dtype=np.float32)
    vectors[:, 0] = np.arange(10, dtype=np.float32)
    put_table(server.data, ds, pa.table({"id": pa.array(range(10), pa.int64()),
                                         "vector": vector_array(vectors),
                                         "tag": pa.array([f"t{i}" for i in range(10)])}))
    add_edge(server.meta, ds, 0, "about", 9, 1.0)
    add_edge(server.meta, ds, 2, "about", 8, 0.5)


def test_longbows_graph_alpha_on_searches_answers_the_graph_search_fusion(server, ds):
    """Longbow's `graph_alpha` / `graph_depth` search keys, as its SDK sends them in a DoGet
    search ticket: the GraphSearch fusion with alpha = graph_alpha and max_hops = graph_depth,
    answered as a search result table (rows only the graph found have a null distance)."""
    import pyarrow.ipc as ipc
    line_with_links(server, ds)
    keys = {"dataset": ds, "vector": [0.0, 0.0, 0.0, 0.0], "k": 4}
    fused = action(server.meta, "GraphSearch", {**keys, "graph": {"alpha": 0.5, "max_hops": 1}})[0]
    ticket = {"search": {**keys, "graph_alpha": 0.5, "graph_depth": 1}}
    table = server.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()
    assert table.column_names == ["id", "score", "distance", "tag"]
    assert table["id"].to_pylist() == [h["id"] for h in fused] == [0, 9, 1, 2]
    assert table["score"].to_pylist() == pytest.approx([h["score"] for h in fused], rel=1e-6)
    assert table["distance"].to_pylist() == [0.0, None, 1.0, 2.0]  # 9: found by the graph alone
    assert table["tag"].to_pylist() == ["t0", "t9", "t1", "t2"]
    # The VectorSearch action answers the same table; graph_depth defaults to 1 hop.
    body = {**keys, "graph_alpha": 0.5}
    [result] = server.meta.do_action(flight.Action("VectorSearch", json.dumps(body).encode()))
    assert ipc.open_stream(result.body).read_all().equals(table)
    # graph_alpha 0 (or graph_depth 0) is the plain search, as in Longbow.
    plain = server.data.do_get(flight.Ticket(json.dumps({"search": keys}).encode())).read_all()
    for extra in ({"graph_alpha": 0}, {"graph_alpha": 0.5, "graph_depth": 0}):
        ticket = {"search": {**keys, **extra}}
        assert server.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all() == plain
    assert plain["id"].to_pylist() == [0, 1, 2, 3]
    # A hybrid search (text_query) is fused the same way, from its hybrid ranking.
    hybrid = {**keys, "text_query": "t7", "alpha": 0.5}
    fused = action(server.meta, "GraphSearch", {**hybrid, "graph": {"alpha": 0.5}})[0]
    ticket = {"search": {**hybrid, "graph_alpha": 0.5}}
    table = server.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()
    assert table["id"].to_pylist() == [h["id"] for h in fused]
    assert 7 in table["id"].to_pylist()  # found by its text


def test_graph_alpha_bad_input_is_refused(server, ds):
    line_with_links(server, ds)
    keys = {"dataset": ds, "vector": [0.0, 0.0, 0.0, 0.0], "k": 3}

    def search(**extra):
        ticket = {"search": {**keys, **extra}}
        return server.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()

    with pytest.raises(INVALID_ARGUMENT, match="'graph_alpha' .* must be in \\[0, 1\\], got 2"):
        search(graph_alpha=2)
    with pytest.raises(INVALID_ARGUMENT, match="'graph_depth' .* must be 0 to 4, got 9"):
        search(graph_alpha=0.5, graph_depth=9)
    with pytest.raises(INVALID_ARGUMENT, match="'graph_alpha' .* must be a number"):
        search(graph_alpha="much")
    with pytest.raises(INVALID_ARGUMENT, match="takes its expansion in 'graph'"):
        action(server.meta, "GraphSearch", {**keys, "graph_alpha": 0.5})
    strings = unique_name("strids")
    put_table(server.data, strings, make_table(5, 4, id_type=pa.string()))
    with pytest.raises(INVALID_ARGUMENT, match="edges name rows by integer id"):
        ticket = {"search": {**keys, "dataset": strings, "graph_alpha": 0.5}}
        server.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()
    assert search()["id"].to_pylist() == [0, 1, 2]  # still serving
