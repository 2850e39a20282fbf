"""Routed puts over long-lived put streams between nodes (docs/cluster.md, "Routed puts";
docs/protocol.md, "Shard put streams"): one etcd and three `arbalest serve` nodes, 4 shards,
replication factor 2.

Many client puts at once through one node: every acked row is held exactly once by each replica
of its shard, a unique-id dataset's batches of one client put are applied in order on every
replica, and the slices travel on a few streams (the metrics and cluster-status say how many
were opened, far fewer than the slices sent). A put stream opened by hand: a slice with a stale
epoch, one naming no shard and one without a valid role are refused on their own, the good
slices around them are stored and the stream goes on. A node SIGKILLed while puts stream
through another: each put either fails with UNAVAILABLE naming a shard or is acked, puts resume
after failover, and no acked row is lost or stored twice.

Timing is never asserted: membership changes are waited for with deadlines (wait_until).
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (make_table, put_table, scan, scrape, unique_name, value,
                           thread_files, vector_array, wait_until)
from test_cluster import DIM, cluster_status, node_id, wait_for_members
from test_cluster_shards import SHARDS, shard_map, start_cluster

CLIENTS = 8
BATCHES = 8
ROWS = 25


@pytest.fixture(scope="module")
def streams_cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("streams"))
    yield c
    c.stop()


def local_rows(node, name, shard) -> pa.Table | None:
    try:
        return scan(node.data, {"dataset": f"{name}.__shard{shard}", "local_only": True})
    except pa.ArrowKeyError:
        return None


def stream_counts(nodes) -> tuple[int, int]:
    """(put streams opened, slices sent on them), summed over `nodes`' metrics."""
    opened = slices = 0
    for node in nodes:
        samples = scrape(node)
        opened += value(samples, "arbalest_cluster_put_streams_opened_total") or 0
        slices += value(samples, "arbalest_cluster_put_stream_slices_total") or 0
    return int(opened), int(slices)


def start_threads(work, count, errors) -> list[threading.Thread]:
    """`count` threads running work(i); what they raise goes to `errors`, with their index."""
    def guarded(i):
        try:
            work(i)
        except BaseException as e:
            errors.append((i, e))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads


def run_in_threads(work, count):
    errors = []
    for t in start_threads(work, count, errors):
        t.join()
    assert errors == []


def test_concurrent_puts_share_streams_and_land_once_on_every_replica(streams_cluster):
    nodes = streams_cluster.nodes
    router = nodes[0]
    name = unique_name("many")
    upserted = unique_name("upserts")
    opened_before, slices_before = stream_counts(nodes)
    tables = [make_table(BATCHES * ROWS, d=DIM, start_id=i * 100_000,
                         rng=np.random.default_rng(100 + i)) for i in range(CLIENTS)]
    # Declare the datasets first: concurrent first puts would race to create the shard map.
    put_table(router.data, name, make_table(1, d=DIM, start_id=10**9))
    unique = make_table(ROWS, d=DIM, rng=np.random.default_rng(5))
    unique = unique.replace_schema_metadata({"longbow.unique_id": "true"})
    put_table(router.data, upserted, unique)

    def client(i):
        c = flight.connect(f"grpc://127.0.0.1:{router.port}")
        if i == 0:
            # One client put of a unique-id dataset: batch k gives ids 0..ROWS-1 the vector k;
            # its batches must be applied in order on every replica.
            batches = []
            for k in range(BATCHES):
                vectors = np.full((ROWS, DIM), float(k), dtype=np.float32)
                batch = unique.set_column(1, "vector", vector_array(vectors))
                batches.append(batch.to_batches()[0])
            acks = put_table(c, upserted, unique, batches=batches)
            assert len(acks) == BATCHES
        acks = put_table(c, name, tables[i], batch_size=ROWS)
        assert [a["rows"] for a in acks] == [ROWS] * BATCHES
        c.close()

    run_in_threads(client, CLIENTS)

    expected = sorted([10**9] + [i for t in tables for i in t.column("id").to_pylist()])
    by_id = {node_id(n): n for n in nodes}
    held = []
    for shard in shard_map(router, name)["placement"]:
        copies = [local_rows(by_id[r], name, shard["shard"]) for r in shard["replicas"]]
        ids = [sorted(t.column("id").to_pylist()) for t in copies]
        assert len(ids) == 2 and ids[0] == ids[1]  # each replica: the same rows, each once
        assert len(ids[0]) == len(set(ids[0]))
        held += ids[0]
    assert sorted(held) == expected
    for shard in shard_map(router, upserted)["placement"]:
        for replica in shard["replicas"]:
            copy = local_rows(by_id[replica], upserted, shard["shard"])
            if copy is None:
                continue
            ids = copy.column("id").to_pylist()
            assert len(ids) == len(set(ids))
            last = np.asarray(copy.column("vector").to_pylist(), dtype=np.float32)
            assert (last == BATCHES - 1).all(), "a later batch was overtaken by an earlier one"

    opened, slices = stream_counts(nodes)
    opened -= opened_before
    slices -= slices_before
    # Every batch of the 8 concurrent puts has slices for the shards node 0 is not primary of,
    # and every slice is replicated once: hundreds of slices, on a handful of streams (one per
    # peer, dataset and schema; a few more only under load).
    assert slices >= CLIENTS * BATCHES
    assert opened * 10 <= slices, (opened, slices)
    status = cluster_status(router)["put_streams"]
    assert status["opened"] >= 1 and status["slices"] >= status["opened"] * 10
    # The slices (and their replication) ran on the router's put threads, reused from one
    # batch to the next instead of a thread started per slice.
    threads = cluster_status(router)["put_threads"]
    assert threads["tasks"] >= CLIENTS * BATCHES, threads
    assert threads["started"] * 3 <= threads["tasks"], threads
    names = {comm.strip() for comm in thread_files(router.proc.pid, "comm")}
    assert "arb-put" in names, names


def test_stale_epoch_slice_is_refused_without_breaking_the_stream(streams_cluster):
    nodes = streams_cluster.nodes
    name = unique_name("stale")
    put_table(nodes[0].data, name, make_table(40, d=DIM))
    placement = shard_map(nodes[0], name)["placement"][0]
    by_id = {node_id(n): n for n in nodes}
    primary = by_id[placement["primary"]]
    table = make_table(30, d=DIM, start_id=50_000, rng=np.random.default_rng(9))
    command = json.dumps({"shard_put_stream": {"dataset": name}}).encode()
    writer, reader = primary.data.do_put(flight.FlightDescriptor.for_command(command),
                                         table.schema)
    hops = [
        {"seq": 0, "shard": 0, "epoch": placement["epoch"] - 1, "role": "primary"},  # stale
        {"seq": 1, "shard": 0, "epoch": placement["epoch"], "role": "primary"},
        {"seq": 2, "shard": SHARDS + 3, "epoch": placement["epoch"], "role": "primary"},
        {"seq": 3, "shard": 0, "epoch": placement["epoch"], "role": 7},
        {"seq": 4, "shard": 0, "epoch": placement["epoch"], "role": "primary"},
    ]
    parts = [table.slice(0, 10), table.slice(10, 10), table.slice(0, 5), table.slice(0, 5),
             table.slice(20, 10)]
    for hop, part in zip(hops, parts):
        writer.write_with_metadata(part.to_batches()[0], pa.py_buffer(json.dumps(hop).encode()))
    writer.done_writing()
    answers = {}
    while True:
        buf = reader.read()
        if buf is None:
            break
        answer = json.loads(buf.to_pybytes())
        answers[answer["seq"]] = answer
    writer.close()
    assert sorted(answers) == [0, 1, 2, 3, 4]
    assert "stale epoch" in answers[0]["error"]["message"]
    assert f"no shard {SHARDS + 3}" in answers[2]["error"]["message"]
    assert "role" in answers[3]["error"]["message"]
    for seq in (1, 4):
        assert answers[seq]["ack"]["rows"] == 10 and answers[seq]["ack"]["replicas"] == 2
    stored = set(range(50_010, 50_020)) | set(range(50_020, 50_030))
    for replica in placement["replicas"]:
        ids = set(local_rows(by_id[replica], name, 0).column("id").to_pylist())
        assert stored <= ids and not ids & set(range(50_000, 50_010))


def test_sigkill_mid_stream_fails_or_acks_each_put_and_loses_no_acked_row(tmp_path):
    c = start_cluster(tmp_path, lease_ttl_s=3)
    try:
        router, victim, other = c.nodes
        name = unique_name("killed")
        put_table(router.data, name, make_table(1, d=DIM, start_id=10**9))
        acked, lock = set(), threading.Lock()
        killed = threading.Event()
        puts_after = [0] * 4
        deadline = time.monotonic() + 90

        def client(i):
            cl = flight.connect(f"grpc://127.0.0.1:{router.port}")
            start = i * 10_000_000
            while time.monotonic() < deadline and puts_after[i] < 3:
                table = make_table(60, d=DIM, start_id=start, rng=np.random.default_rng(start))
                start += 60
                try:
                    acks = put_table(cl, name, table, batch_size=20)
                except flight.FlightUnavailableError as e:
                    assert f"of '{name}'" in str(e) and "shard " in str(e), str(e)
                    time.sleep(0.2)
                    continue
                with lock:
                    acked.update(table.column("id").to_pylist()[:20 * len(acks)])
                if killed.is_set():
                    puts_after[i] += 1
            cl.close()

        errors = []
        threads = start_threads(client, 4, errors)
        wait_until(lambda: len(acked), lambda n: n >= 1000, "puts acked before the kill",
                   timeout=60)
        victim.proc.kill()
        killed.set()
        for t in threads:
            t.join()
        assert errors == []
        assert puts_after == [3] * 4, "puts did not resume after failover"
        wait_for_members([router, other], {node_id(router), node_id(other)}, "the victim gone")
        for node in (router, other):
            ids = scan(node.data, {"dataset": name}).column("id").to_pylist()
            assert len(ids) == len(set(ids))  # no row twice
            assert acked <= set(ids)          # no acked row lost
        # The streams to the victim (the router's to it as a primary, a primary's to it as a
        # replica) broke and were not reused.
        broken = wait_until(
            lambda: sum(cluster_status(n)["put_streams"]["broken"] for n in (router, other)),
            lambda b: b >= 1, "the streams to the victim closed as broken", timeout=30)
        assert broken >= 1
    finally:
        c.stop()

