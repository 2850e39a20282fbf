"""Cluster-wide hybrid search with global BM25 statistics (docs/cluster.md, "Hybrid search"): a
real etcd, three `arbalest serve` nodes (4 shards, R = 2) and one single server without cluster
flags holding the same rows.

The texts are drawn so that the shards' own statistics differ (a term's share of the rows, the
documents' mean length): scored per shard, with each shard's own ranks fused, the cluster would
rank differently from the single node (asserted here from the rows each shard holds, with an
independent BM25). Searched from every node, text-only, fused and adaptive hybrid searches
return the single node's ids in its order, with its scores and distances, for a sharded dataset
and for an unsharded one spread over the members of a second cluster. Documents get distinct
lengths and the vectors are random, so no two rows tie on either side (ties are broken by row numbers on one
node and by shard order in the cluster). Bad input: malformed `text-stats` bodies and
`text_stats` hop keys get errors naming the key.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import ServerProcess, action, put_table, scan, unique_name, vector_array
from test_cluster import DIM, Cluster, node_id, wait_for_members
from test_cluster_shards import local_ids
from test_hybrid import bm25

SHARDS = 4
ROWS = 96
# Query terms with their share of the rows; each row also gets filler words of its own.
TERMS = {"amber": 0.08, "birch": 0.3, "cedar": 0.55, "delta": 0.15}
QUERIES = ["amber", "amber cedar", "birch delta", "cedar delta amber birch"]


def texts(rng) -> list[str]:
    rows = []
    for row in range(ROWS):
        words = []
        for term, share in TERMS.items():
            if rng.random() < share:
                words += [term] * int(rng.integers(1, 4))
        # A length of its own for every row (12 + row: at most 12 query-term words), so that
        # no two rows tie on BM25.
        words += [f"f{row}x{j}" for j in range(12 + row - len(words))]
        rng.shuffle(words)
        rows.append(" ".join(words))
    return rows


def corpus(seed: int, start_id: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIM)),
                        ("text", pa.string())], metadata={"longbow.text.columns": "text"})
    return pa.table([pa.array(np.arange(start_id, start_id + ROWS)),
                     vector_array(rng.standard_normal((ROWS, DIM), dtype=np.float32)),
                     pa.array(texts(rng))], schema=schema)


def start_cluster(workdir, shards: int, nodes: int) -> Cluster:
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(workdir, unique_name("hyb"), shards=shards)
    try:
        for i in range(nodes):
            cluster.add_node(i)
        wait_for_members(cluster.nodes, {node_id(n) for n in cluster.nodes},
                         f"all {nodes} members listed")
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(cluster, single server, sharded dataset, unsharded dataset, {id: text}, query vector).
    The cluster: three nodes, 4 shards, R = 2; the single server holds every row of both
    datasets (the unsharded one is spread over a second cluster, `spread`)."""
    workdir = tmp_path_factory.mktemp("cluster_hybrid")
    cluster = start_cluster(workdir / "sharded", SHARDS, 3)
    single = None
    try:
        single = ServerProcess(workdir / "single").start()
        sharded, unsharded = unique_name("hyb_sharded"), unique_name("hyb_spread")
        table = corpus(seed=5)
        put_table(cluster.nodes[0].data, sharded, table, batch_size=32)
        put_table(single.data, sharded, table, batch_size=32)
        spread = corpus(seed=6, start_id=1000)
        put_table(single.data, unsharded, spread)
        text_of = {i: t for tb in (table, spread)
                   for i, t in zip(tb.column("id").to_pylist(), tb.column("text").to_pylist())}
        query = np.random.default_rng(9).standard_normal(DIM).astype(np.float32)
        yield cluster, single, sharded, unsharded, text_of, query, spread
    finally:
        if single:
            single.stop()
        cluster.stop()


@pytest.fixture(scope="module")
def spread(setup, tmp_path_factory):
    """A cluster of two nodes without shards, each holding half the unsharded dataset's rows."""
    spread_table, unsharded = setup[6], setup[3]
    cluster = start_cluster(tmp_path_factory.mktemp("cluster_hybrid_spread"), 0, 2)
    try:
        for i, node in enumerate(cluster.nodes):
            put_table(node.data, unsharded, spread_table.slice(i * ROWS // 2, ROWS // 2))
        yield cluster
    finally:
        cluster.stop()


def search(node, name, **keys) -> pa.Table:
    ticket = {"search": {"dataset": name, **keys}}
    return node.data.do_get(flight.Ticket(json.dumps(ticket).encode())).read_all()


def shard_rows(cluster, name) -> list[list[int]]:
    """The ids of each shard, from the first node holding a copy."""
    rows = []
    for shard in range(SHARDS):
        ids = next(ids for node in cluster.nodes
                   if (ids := local_ids(node, name, shard)) is not None)
        rows.append(ids)
    return rows


def ranked(scores: dict) -> list:
    return [i for i, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def per_shard_rrf(parts: list[list[int]], text_of: dict, query: str, k: int) -> list:
    """What fusing each shard's own text ranks (alpha 0) and merging by score returns."""
    merged = []
    for ids in parts:
        scores = bm25(query, [text_of[i] for i in ids])
        merged += [(1 / (60 + rank), ids[row]) for rank, row in enumerate(ranked(scores), 1)]
    return [i for _, i in sorted(merged, key=lambda s: -s[0])[:k]]


def test_shard_statistics_would_rank_differently(setup):
    """The premise: per-shard BM25 and per-shard fusion do not give the global ranking."""
    cluster, _, sharded, _, text_of, _, _ = setup
    parts = shard_rows(cluster, sharded)
    assert sorted(i for ids in parts for i in ids) == list(range(ROWS))
    ids = list(range(ROWS))
    for query in QUERIES:
        globally = [ids[r] for r in ranked(bm25(query, [text_of[i] for i in ids]))][:10]
        assert per_shard_rrf(parts, text_of, query, 10) != globally, query
    # And a term's share of the rows differs between shards.
    shares = [sum("amber" in text_of[i].split() for i in p) / len(p) for p in parts]
    assert max(shares) > 1.5 * min(shares), shares


SEARCHES = [
    pytest.param({"alpha": 0, "k": 10}, id="text-only"),
    pytest.param({"alpha": 0, "k": 3}, id="text-only-k3"),
    pytest.param({"alpha": 0.5, "k": 10, "ef": 400}, id="fused"),
    pytest.param({"alpha": 0.3, "k": 5, "ef": 400}, id="fused-text-heavy"),
    pytest.param({"alpha": -1, "k": 8, "ef": 400}, id="adaptive"),
]


@pytest.mark.parametrize("keys", SEARCHES)
@pytest.mark.parametrize("dataset", ["sharded", "unsharded"])
def test_every_node_ranks_as_one_node_holding_all_rows(setup, request, keys, dataset):
    cluster, single, sharded, unsharded, text_of, query, _ = setup
    if dataset == "sharded":
        name = sharded
    else:
        name, cluster = unsharded, request.getfixturevalue("spread")
    for text_query in QUERIES:
        request = {"text_query": text_query, **keys}
        if keys["alpha"] != 0:
            request["vector"] = [float(x) for x in query]
        want = search(single, name, **request)
        matching = sum(bool(set(text_query.split()) & set(text.split()))
                       for i, text in text_of.items() if (i >= 1000) == (name == unsharded))
        assert want.num_rows == (min(keys["k"], matching) if keys["alpha"] == 0 else keys["k"])
        for node in cluster.nodes:
            got = search(node, name, **request)
            where = f"{text_query!r} {keys} from {node_id(node)}"
            assert got.column("id").to_pylist() == want.column("id").to_pylist(), where
            assert got.column("score").to_pylist() == want.column("score").to_pylist(), where
            assert got.column("distance").to_pylist() == want.column("distance").to_pylist(), where
            assert got.column("text").to_pylist() == want.column("text").to_pylist(), where
            assert b"arbalest.missing_nodes" not in (got.schema.metadata or {}), where


def test_hybrid_search_action_ranks_as_one_node(setup):
    cluster, single, sharded, _, _, query, _ = setup
    body = {"dataset": sharded, "text_query": "amber cedar", "vector": [float(x) for x in query],
            "k": 10, "ef": 400}
    want = action(single.data, "HybridSearch", body)
    assert len(want) == 1 and len(want[0]) == 10
    for node in cluster.nodes:
        got = action(node.data, "HybridSearch", body)
        assert got == want, node_id(node)


def test_text_stats_action_answers_a_shards_statistics(setup):
    cluster, single, sharded, _, text_of, _, _ = setup
    [stats] = action(single.data, "text-stats", {"dataset": sharded, "text_query": "Amber zzz"})
    docs = [text_of[i].split() for i in range(ROWS)]
    assert stats == {"docs": ROWS, "total_length": sum(map(len, docs)),
                     "doc_freq": {"amber": sum("amber" in d for d in docs), "zzz": 0}}
    # A shard's copy answers its own rows only.
    parts = shard_rows(cluster, sharded)
    holder = next(n for n in cluster.nodes if local_ids(n, sharded, 0) is not None)
    [shard] = action(holder.data, "text-stats",
                     {"dataset": f"{sharded}.__shard0", "text_query": "amber",
                      "local_only": True})
    assert shard["docs"] == len(parts[0])
    assert shard["doc_freq"] == {"amber": sum("amber" in text_of[i].split() for i in parts[0])}


@pytest.mark.parametrize("body, message", [
    ("not json", "not valid JSON|parse"),
    ([1, 2], "JSON object"),
    ({"text_query": "amber"}, "needs 'dataset'"),
    ({"dataset": "DATASET"}, "needs 'text_query'"),
    ({"dataset": "DATASET", "text_query": 3}, "text_query"),
    ({"dataset": "DATASET", "text_query": "amber", "extra": 1}, "extra"),
])
def test_malformed_text_stats_requests_are_refused(setup, body, message):
    _, single, sharded, _, _, _, _ = setup
    if isinstance(body, dict) and body.get("dataset") == "DATASET":
        body = {**body, "dataset": sharded}
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    with pytest.raises(pa.ArrowInvalid, match=message):
        list(single.data.do_action(flight.Action("text-stats", raw)))


def test_text_stats_of_a_dataset_without_text_or_missing(setup):
    _, single, _, _, _, _, _ = setup
    name = unique_name("no_text")
    put_table(single.data, name, pa.table(
        [pa.array([1, 2], pa.int64()), vector_array(np.ones((2, DIM), np.float32))],
        names=["id", "vector"]))
    with pytest.raises(pa.ArrowInvalid, match="no full-text columns"):
        action(single.data, "text-stats", {"dataset": name, "text_query": "amber"})
    with pytest.raises(pa.ArrowKeyError):
        action(single.data, "text-stats", {"dataset": unique_name("none"), "text_query": "a"})


GOOD_STATS = {"docs": 10, "total_length": 40, "doc_freq": {"amber": 2}}


@pytest.mark.parametrize("stats, message", [
    ({**GOOD_STATS, "docs": -1}, "'docs'.*non-negative"),
    ({"total_length": 4, "doc_freq": {}}, "needs 'docs'"),
    ({**GOOD_STATS, "doc_freq": {"amber": 11}}, "amber.*more than 'docs'"),
    ({**GOOD_STATS, "doc_freq": [1]}, "'doc_freq'.*object"),
    ({**GOOD_STATS, "doc_freq": {"amber": "two"}}, "'amber'.*non-negative"),
    ({**GOOD_STATS, "avgdl": 3}, "avgdl"),
    ("stats", "JSON object"),
])
def test_malformed_text_stats_hop_keys_are_refused(setup, stats, message):
    _, single, sharded, _, _, _, _ = setup
    with pytest.raises(pa.ArrowInvalid, match=message):
        search(single, sharded, text_query="amber", alpha=0, local_only=True, text_stats=stats)


HOP_ONLY = "'text_stats' .*needs 'text_query' and 'local_only'"


def test_text_stats_hop_key_needs_a_local_text_search(setup):
    _, single, sharded, _, _, _, _ = setup
    with pytest.raises(pa.ArrowInvalid, match=HOP_ONLY):
        search(single, sharded, text_query="amber", alpha=0, text_stats=GOOD_STATS)
    with pytest.raises(pa.ArrowInvalid, match=HOP_ONLY):
        search(single, sharded, vector=[0.0] * DIM, local_only=True, text_stats=GOOD_STATS)


def test_hop_with_global_stats_returns_candidates_with_bm25(setup):
    """The hop's answer: the dense and text candidates, BM25 in its own column."""
    _, single, sharded, _, _, query, _ = setup
    got = search(single, sharded, text_query="amber", vector=[float(x) for x in query], k=2,
                 alpha=0.5, local_only=True, text_stats=GOOD_STATS)
    assert got.schema.names[-1] == "arbalest.bm25"
    bm = got.column("arbalest.bm25").to_pylist()
    distances = got.column("distance").to_pylist()
    # depth = max(4 * 2, ef 0) = 8 rows of each list, together.
    assert sum(d is not None for d in distances) == 8
    assert 0 < sum(b is not None for b in bm) <= 8
    assert all(d is not None or b is not None for d, b in zip(distances, bm))
