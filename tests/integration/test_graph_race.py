"""add-edge racing the delete of its endpoints, over the real API: an edge is checked against
the live rows and appended atomically with respect to deletes, in the dataset's log order, so no
edge to a deleted row is ever stored, returned by traverse-graph or counted by GetGraphStats,
before or after a restart (the WAL replays the same order)."""

from __future__ import annotations

import json
import random
import signal
import threading

import pyarrow.flight as flight

from arbalest_util import NOT_FOUND, action, make_table, put_table, unique_name

TARGETS = 300  # rows 0..TARGETS-1 are deleted one by one while edges to them are added
SUBJECTS = 50  # rows TARGETS..TARGETS+SUBJECTS-1 are never deleted: every edge starts there
ADDERS = 4


def connect(srv) -> flight.FlightClient:
    return flight.connect(f"grpc://127.0.0.1:{srv.meta_port}")


def edges_from(client, ds, subject) -> list[tuple[int, int]]:
    """The edges out of `subject` as (subject, object), from one-hop paths."""
    [paths] = action(client, "traverse-graph",
                     {"dataset": ds, "start": subject, "max_hops": 1, "limit": 100000})
    return [(p["Nodes"][0], p["Nodes"][1]) for p in paths]


def assert_no_dangling_edge(client, ds, deleted: set[int], what: str):
    subjects = range(TARGETS, TARGETS + SUBJECTS)
    edges = [edge for s in subjects for edge in edges_from(client, ds, s)]
    dangling = [edge for edge in edges if edge[1] in deleted]
    assert not dangling, f"{what}: edges to deleted rows {dangling[:10]} ({len(dangling)})"
    stats = action(client, "GetGraphStats", {"dataset": ds})[0]
    # Every edge starts at a subject, so the traversals saw every stored edge.
    assert stats["edge_count"] == len(edges), (what, stats, len(edges))
    assert stats["node_count"] == len({n for edge in edges for n in edge}), (what, stats)
    return edges


def test_add_edge_racing_deletes_never_leaves_a_dangling_edge(start_server):
    srv = start_server()
    ds = unique_name("race")
    put_table(srv.data, ds, make_table(TARGETS + SUBJECTS, 4))
    cursor = [0]  # the next target the deleter deletes
    acked_deletes: set[int] = set()
    done = threading.Event()
    errors: list[BaseException] = []
    added = [0]

    def adder(seed):
        rng = random.Random(seed)
        client = connect(srv)
        try:
            while not done.is_set():
                # Aim at the rows about to be deleted, where the race is.
                target = min(cursor[0] + rng.randrange(3), TARGETS - 1)
                subject = TARGETS + rng.randrange(SUBJECTS)
                body = {"dataset": ds, "subject": subject, "predicate": "p", "object": target}
                try:
                    list(client.do_action(flight.Action("add-edge", json.dumps(body).encode())))
                    added[0] += 1
                except NOT_FOUND:
                    pass  # its row was deleted first: refused, as it must be
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    def reader():
        client = connect(srv)
        try:
            while not done.is_set():
                deleted_before = set(acked_deletes)
                for s in range(TARGETS, TARGETS + SUBJECTS, 7):
                    bad = [e for e in edges_from(client, ds, s) if e[1] in deleted_before]
                    assert not bad, f"traverse-graph returned edges to deleted rows: {bad}"
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=adder, args=(i,)) for i in range(ADDERS)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    deleter = connect(srv)
    try:
        for target in range(TARGETS):
            cursor[0] = target
            assert action(deleter, "delete", {"dataset": ds, "id": target})[0]["deleted"] == 1
            acked_deletes.add(target)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert added[0] > 0
    deleted = set(range(TARGETS))
    assert_no_dangling_edge(srv.meta, ds, deleted, "after the race")
    # Replayed from the WAL: the records' order is the order they were checked in.
    srv.stop(signal.SIGKILL)
    srv.start()
    assert_no_dangling_edge(srv.meta, ds, deleted, "after a restart")
