"""Hybrid search over Flight: BM25 over a dataset's text columns fused with the dense search
(`text_query` and `alpha` in search tickets, the VectorSearch action and the HybridSearch
action), on a small corpus of real sentences.

Two copies of the corpus: one whose vectors are informative (a one-hot of the sentence's topic
plus a little noise, so the dense side finds the topic) and one whose vectors are random (so
only the text side knows what a sentence is about). Expected rankings are computed here, with
an independent BM25 and numpy distances, from the corpus itself.
"""

from __future__ import annotations

import json
import math
import re
import signal

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from arbalest_util import (INVALID_ARGUMENT, NOT_FOUND, ServerProcess, action, put_table, scan,
                           stats, unique_name, vector_array)

CORPUS = {
    "astronomy": [
        "The telescope captured a faint spiral galaxy beyond the Milky Way.",
        "Astronomers measured the orbit of a comet approaching the sun.",
        "A red giant star will eventually shed its outer layers as a nebula.",
        "Jupiter has dozens of moons, and Europa may hide an ocean under its ice.",
        "The lunar eclipse turned the moon a deep copper color last night.",
    ],
    "cooking": [
        "Knead the bread dough for ten minutes until it becomes smooth and elastic.",
        "Simmer the tomato sauce slowly with garlic, basil and olive oil.",
        "A sharp knife makes chopping onions faster and safer.",
        "Whisk the eggs with sugar before folding in the flour for a light sponge cake.",
        "Roast the vegetables in a hot oven until their edges caramelize.",
    ],
    "football": [
        "The striker scored a stunning goal in the final minute of the match.",
        "The goalkeeper saved a penalty kick and the crowd roared.",
        "Midfielders control the tempo of the game with short accurate passes.",
        "The referee showed a red card after a reckless tackle.",
        "The club signed a young defender during the transfer window.",
    ],
    "programming": [
        "The compiler reported a syntax error on line forty two.",
        "Use a hash map when you need constant time lookups by key.",
        "Unit tests catch regressions before the code reaches production.",
        "The garbage collector reclaims memory that is no longer referenced.",
        "A race condition appeared when two threads wrote to the same variable.",
    ],
    "medicine": [
        "The doctor prescribed antibiotics for the bacterial infection.",
        "Regular exercise lowers blood pressure and improves heart health.",
        "The vaccine trains the immune system to recognize the virus.",
        "An x-ray showed a small fracture in the patient's wrist.",
        "Nurses monitored the patient's temperature through the night.",
    ],
    "gardening": [
        "Plant tomato seedlings after the last frost of spring.",
        "Compost enriches the soil with nutrients for the vegetable garden.",
        "Prune the roses in late winter to encourage new growth.",
        "Water the lawn early in the morning to reduce evaporation.",
        "Bees pollinate the apple blossoms in the orchard.",
    ],
    "finance": [
        "The central bank raised interest rates to fight inflation.",
        "Diversify your portfolio across stocks and bonds to reduce risk.",
        "The company reported record quarterly earnings and its shares rose.",
        "A mortgage is a loan secured by the value of a house.",
        "Inflation erodes the purchasing power of savings over time.",
    ],
    "music": [
        "The orchestra tuned their violins before the symphony began.",
        "She practiced the piano sonata every evening for a month.",
        "The drummer kept a steady rhythm while the guitarist improvised a solo.",
        "The choir sang the hymn in four part harmony.",
        "Jazz musicians often improvise over a chord progression.",
    ],
}
TOPICS = list(CORPUS)
TEXTS = [text for topic in TOPICS for text in CORPUS[topic]]
TOPIC_OF = [topic for topic in TOPICS for _ in CORPUS[topic]]
DIM = len(TOPICS)


def topic_vector(topic: str) -> np.ndarray:
    return np.eye(DIM, dtype=np.float32)[TOPICS.index(topic)]


def informative_vectors() -> np.ndarray:
    rng = np.random.default_rng(11)
    centres = np.stack([topic_vector(t) for t in TOPIC_OF])
    return centres + rng.normal(0, 0.05, centres.shape).astype(np.float32)


def random_vectors() -> np.ndarray:
    return np.random.default_rng(12).standard_normal((len(TEXTS), DIM), dtype=np.float32)


def corpus_table(vectors: np.ndarray, metadata=None, ids=None) -> pa.Table:
    schema = pa.schema([("id", pa.int64() if ids is None else pa.string()),
                        ("vector", pa.list_(pa.field("item", pa.float32()), DIM)),
                        ("text", pa.string()), ("topic", pa.string()), ("year", pa.int32())],
                       metadata=metadata)
    return pa.table([
        pa.array(np.arange(len(TEXTS)) if ids is None else ids, schema.field("id").type),
        vector_array(vectors), pa.array(TEXTS), pa.array(TOPIC_OF),
        pa.array([2000 + i % 4 for i in range(len(TEXTS))], pa.int32())], schema=schema)


# -- an independent BM25 (Lucene idf, k1 = 1.2, b = 0.75) over ASCII text -------------------

def terms(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def bm25(query: str, texts=TEXTS, k1=1.2, b=0.75) -> dict[int, float]:
    """Row -> BM25 score, for every row with at least one query term."""
    docs = [terms(t) for t in texts]
    avgdl = sum(map(len, docs)) / len(docs)
    scores: dict[int, float] = {}
    for term in set(terms(query)):
        having = [i for i, d in enumerate(docs) if term in d]
        idf = math.log(1 + (len(docs) - len(having) + 0.5) / (len(having) + 0.5))
        for i in having:
            tf = docs[i].count(term)
            norm = 1 - b + b * len(docs[i]) / avgdl
            scores[i] = scores.get(i, 0.0) + idf * tf * (k1 + 1) / (tf + k1 * norm)
    return scores


def best_text_row(query: str) -> int:
    scores = bm25(query)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    assert len(ranked) == 1 or ranked[0][1] > ranked[1][1] + 1e-9, "the corpus needs a unique best"
    return ranked[0][0]


def nearest_rows(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.argsort(np.linalg.norm(vectors - query, axis=1), kind="stable")


# -- fixtures and calls ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def informative(server):
    name = unique_name("hybrid_inf")
    put_table(server.data, name, corpus_table(informative_vectors()), batch_size=16)
    return name


@pytest.fixture(scope="module")
def uninformative(server):
    name = unique_name("hybrid_rand")
    put_table(server.data, name, corpus_table(random_vectors()), batch_size=16)
    return name


def search(client, **keys) -> pa.Table:
    return scan(client, {"search": keys})


def rrf(rank: int, weight: float) -> float:
    return weight / (60 + rank)


# -- behaviour ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["inflation interest rates", "tomato", "patient temperature",
                                   "the red moon"])
def test_text_only_is_the_bm25_ranking(server, uninformative, query):
    expected = bm25(query)
    got = search(server.data, dataset=uninformative, text_query=query, alpha=0, k=len(TEXTS))
    ids = got.column("id").to_pylist()
    assert set(ids) == set(expected), "exactly the rows with a query term"
    for a, b in zip(ids, ids[1:]):
        assert expected[a] > expected[b] - 1e-9, f"{a} ranked above {b}: {expected}"
        if abs(expected[a] - expected[b]) <= 1e-9:
            assert a < b, "ties go to the lower row"
    assert ids[0] == best_text_row(query)
    assert got.column("distance").null_count == got.num_rows
    assert got.column("score").to_pylist() == pytest.approx(
        [rrf(rank, 1.0) for rank in range(1, len(ids) + 1)], rel=1e-6)
    assert got.schema.names == ["id", "score", "distance", "text", "topic", "year"]


def test_alpha_one_is_the_dense_search(server, informative):
    query = (topic_vector("music") * 0.9).tolist()
    dense = search(server.data, dataset=informative, vector=query, k=6)
    hybrid = search(server.data, dataset=informative, vector=query, k=6,
                    text_query="inflation", alpha=1)
    assert hybrid.column("id").to_pylist() == dense.column("id").to_pylist()
    assert hybrid.column("distance").to_pylist() == dense.column("distance").to_pylist()
    assert hybrid.column("score").to_pylist() == pytest.approx(
        [rrf(rank, 1.0) for rank in range(1, 7)], rel=1e-6)
    want = nearest_rows(informative_vectors(), np.array(query))[:6].tolist()
    assert dense.column("id").to_pylist() == want


def test_fusion_keeps_the_top_of_both_sides(server, informative):
    vectors = informative_vectors()
    query = topic_vector("astronomy")
    text = "central bank interest rates"
    dense_top = int(nearest_rows(vectors, query)[0])
    text_top = best_text_row(text)
    assert TOPIC_OF[text_top] == "finance"

    dense = search(server.data, dataset=informative, vector=query.tolist(), k=4)
    assert text_top not in dense.column("id").to_pylist(), "dense search alone misses it"

    fused = search(server.data, dataset=informative, vector=query.tolist(), k=4,
                   text_query=text, alpha=0.5)
    rows = {r["id"]: r for r in fused.to_pylist()}
    assert dense_top in rows and text_top in rows
    assert rows[dense_top]["distance"] == pytest.approx(
        float(np.linalg.norm(vectors[dense_top] - query)), rel=1e-5)
    assert rows[text_top]["distance"] is None, "a text-only hit has no dense distance"
    assert rows[text_top]["text"] == TEXTS[text_top]
    scores = fused.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True)
    assert max(scores) == pytest.approx(rrf(1, 0.5), rel=1e-6)


def test_text_side_finds_what_random_vectors_cannot(server, uninformative):
    # With meaningless vectors, leaning on the text still puts the matching sentence first.
    text = "garbage collector memory"
    want = best_text_row(text)
    got = search(server.data, dataset=uninformative, vector=[0.0] * DIM, k=3, text_query=text,
                 alpha=0.2)
    assert got.column("id")[0].as_py() == want


def test_default_and_adaptive_alpha(server, informative):
    keys = dict(dataset=informative, vector=topic_vector("cooking").tolist(), k=8,
                text_query="tomato garden")
    assert search(server.data, **keys).equals(search(server.data, **keys, alpha=0.5))
    # Two words: the adaptive rule's keyword weight, 0.3.
    adaptive = search(server.data, **keys, alpha=-1)
    assert adaptive.equals(search(server.data, **keys, alpha=0.3))
    assert not adaptive.equals(search(server.data, **keys, alpha=0.5))


def test_filters_apply_to_hybrid_results(server, ds):
    metadata = {"longbow.text.columns": "text"}
    put_table(server.data, ds, corpus_table(informative_vectors(), metadata), batch_size=16)
    assert stats(server.data, ds)["text_index"]["columns"] == ["text"]
    cooking = [{"field": "topic", "op": "=", "value": "cooking"}]
    got = search(server.data, dataset=ds, vector=topic_vector("music").tolist(), k=4,
                 text_query="the orchestra", alpha=0.5, filters=cooking)
    assert got.num_rows == 4
    assert set(got.column("topic").to_pylist()) == {"cooking"}

    gardening = [{"field": "topic", "op": "=", "value": "gardening"}]
    text_only = search(server.data, dataset=ds, text_query="tomato", alpha=0, k=10,
                       filters=gardening)
    want = {i for i in bm25("tomato") if TOPIC_OF[i] == "gardening"}
    assert set(text_only.column("id").to_pylist()) == want and len(want) == 1
    # The topic column is not text-indexed here: its words find nothing.
    assert search(server.data, dataset=ds, text_query="gardening", alpha=0).num_rows == 0


def test_rows_put_just_before_are_found(server, ds):
    put_table(server.data, ds, corpus_table(informative_vectors()), batch_size=16)
    rng = np.random.default_rng(3)
    for round_ in range(3):
        first = 1000 + round_ * 500
        words = [f"word{n}" for n in rng.integers(0, 50, 500)]
        table = pa.table({
            "id": pa.array(np.arange(first, first + 500), pa.int64()),
            "vector": vector_array(rng.standard_normal((500, DIM), dtype=np.float32)),
            "text": pa.array([f"zeppelin{round_} {w}" for w in words]),
            "topic": pa.array(["airships"] * 500), "year": pa.array([2024] * 500, pa.int32())})
        put_table(server.data, ds, table)
        got = search(server.data, dataset=ds, text_query=f"zeppelin{round_}", alpha=0, k=10_000)
        assert sorted(got.column("id").to_pylist()) == list(range(first, first + 500))
        # Any row that outranks the best text hit is in both lists, so it has the word too.
        fused = search(server.data, dataset=ds, vector=[0.0] * DIM, text_query="word7",
                       alpha=0.5, k=3)
        assert any(t.endswith(" word7") for t in fused.column("text").to_pylist())


def test_deleted_rows_leave_hybrid_results(server, ds):
    put_table(server.data, ds, corpus_table(informative_vectors()), batch_size=16)
    text = "inflation rates"  # the best row has both words, another row one
    victim = best_text_row(text)
    assert len(bm25(text)) > 1
    assert action(server.data, "delete", {"dataset": ds, "id": victim}) == [{"deleted": 1}]
    for alpha in (0, 0.5):
        got = search(server.data, dataset=ds, vector=topic_vector("finance").tolist(),
                     text_query=text, alpha=alpha, k=len(TEXTS))
        assert victim not in got.column("id").to_pylist()
    [hits] = action(server.data, "HybridSearch", {"dataset": ds, "text_query": text, "alpha": 0})
    assert victim not in [h["id"] for h in hits] and hits
    assert stats(server.data, ds)["text_index"]["rows"] == len(TEXTS) - 1


def test_hybrid_search_action(server, informative):
    k = 3
    keys = dict(dataset=informative, vector=topic_vector("finance").tolist(), k=k,
                text_query="moon eclipse", alpha=0.5)
    table = search(server.data, **keys)
    [hits] = action(server.data, "HybridSearch", keys)
    assert [h["id"] for h in hits] == table.column("id").to_pylist()
    assert [h["score"] for h in hits] == pytest.approx(table.column("score").to_pylist())
    # A distance exactly for the rows of the dense list (the 4k nearest).
    dense_list = set(nearest_rows(informative_vectors(), topic_vector("finance"))[:4 * k].tolist())
    for hit, distance in zip(hits, table.column("distance").to_pylist()):
        assert set(hit) == {"id", "score", "distance"}
        assert (hit["distance"] is None) == (distance is None) == (hit["id"] not in dense_list)
        if distance is not None:
            assert hit["distance"] == pytest.approx(distance)
    assert best_text_row("moon eclipse") in {h["id"] for h in hits}
    assert best_text_row("moon eclipse") not in dense_list


def test_hybrid_search_action_returns_requested_columns_and_vectors(server, informative):
    keys = dict(dataset=informative, vector=topic_vector("music").tolist(), k=4,
                text_query="piano sonata", alpha=0.5, columns=["topic", "year", "text"],
                include_vectors=True)
    table = search(server.data, **keys)
    [hits] = action(server.data, "HybridSearch", keys)
    assert [h["id"] for h in hits] == table.column("id").to_pylist()
    vectors = informative_vectors()
    for hit in hits:
        assert set(hit) == {"id", "score", "distance", "topic", "year", "text", "vector"}
        row = hit["id"]
        assert (hit["topic"], hit["year"], hit["text"]) == (TOPIC_OF[row], 2000 + row % 4,
                                                            TEXTS[row])
        assert hit["vector"] == pytest.approx(vectors[row].tolist())
    # A column the dataset lacks is refused, naming it.
    with pytest.raises(INVALID_ARGUMENT, match="no_such_column"):
        action(server.data, "HybridSearch", dict(keys, columns=["no_such_column"]))


def test_hybrid_search_action_with_string_ids(server, ds):
    ids = [f"doc-{i}" for i in range(len(TEXTS))]
    put_table(server.data, ds, corpus_table(random_vectors(), ids=ids))
    [hits] = action(server.meta, "HybridSearch", {"dataset": ds, "text_query": "piano sonata",
                                                   "alpha": 0})
    assert hits[0]["id"] == ids[best_text_row("piano sonata")]


def test_vector_search_action_with_a_text_query(server, informative):
    queries = [topic_vector("medicine").tolist(), topic_vector("football").tolist()]
    body = {"dataset": informative, "vectors": queries, "k": 5, "text_query": "penalty kick"}
    results = [flight_result for flight_result in server.data.do_action(
        flight.Action("VectorSearch", json.dumps(body).encode()))]
    assert len(results) == 2
    for result, query in zip(results, queries):
        got = pa.ipc.open_stream(result.body).read_all()
        want = search(server.data, dataset=informative, vector=query, k=5,
                      text_query="penalty kick")
        assert got.equals(want)


def test_text_index_is_rebuilt_on_restart(tmp_path):
    srv = ServerProcess(tmp_path).start()
    try:
        put_table(srv.data, "corpus", corpus_table(random_vectors()), batch_size=7)
        before = search(srv.data, dataset="corpus", text_query="red card", alpha=0, k=10)
        assert before.num_rows > 0
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    srv = ServerProcess(tmp_path).start()
    try:
        after = search(srv.data, dataset="corpus", text_query="red card", alpha=0, k=10)
        assert after.equals(before)
    finally:
        assert srv.stop(signal.SIGTERM) == 0


# -- bad input ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain(server):
    """A dataset that chose no text columns."""
    name = unique_name("hybrid_plain")
    put_table(server.data, name, corpus_table(random_vectors(), {"longbow.text.columns": ""}))
    return name


BAD_SEARCHES = [
    ({"text_query": 5, "alpha": 0}, ["'text_query'", "must be a string"]),
    ({"text_query": ["red"], "vector": [0.0] * DIM}, ["'text_query'", "must be a string"]),
    ({"text_query": "red", "alpha": "0.5", "vector": [0.0] * DIM}, ["'alpha'", "must be a number"]),
    ({"text_query": "red", "alpha": 1.5, "vector": [0.0] * DIM}, ["'alpha'", "at most 1"]),
    ({"alpha": 0, "vector": [0.0] * DIM}, ["'text_query'"]),
    ({"alpha": 0}, ["'vector'"]),
    ({"text_query": "red", "alpha": 0.5}, ["'vector'", "alpha"]),
    ({"text_query": "red"}, ["'vector'"]),
    ({"text_query": "  ", "alpha": 0}, ["'text_query'", "no words"]),
    ({"text_query": "red", "alpha": 0, "k": 0}, ["'k'"]),
    ({"text_query": "red", "alpha": 0, "filters": [{"field": "nope", "op": "=", "value": 1}]},
     ["nope"]),
]


@pytest.fixture
def still_serving(server, informative):
    yield
    assert server.alive(), "server died"
    got = search(server.data, dataset=informative, text_query="comet", alpha=0, k=1)
    assert got.column("id").to_pylist() == [best_text_row("comet")]


@pytest.mark.parametrize("keys,mentions", BAD_SEARCHES)
@pytest.mark.parametrize("how", ["ticket", "VectorSearch", "HybridSearch"])
def test_bad_hybrid_keys(server, informative, still_serving, keys, mentions, how):
    body = {"dataset": informative, **keys}
    with pytest.raises(INVALID_ARGUMENT) as raised:
        if how == "ticket":
            search(server.data, **body)
        else:
            list(server.data.do_action(flight.Action(how, json.dumps(body).encode())))
    for mention in mentions:
        assert mention in str(raised.value)


def test_text_query_on_dataset_without_text_columns(server, plain, still_serving):
    for body in ({"search": {"dataset": plain, "text_query": "red", "alpha": 0}},
                 {"search": {"dataset": plain, "text_query": "red", "vector": [0.0] * DIM}}):
        with pytest.raises(INVALID_ARGUMENT) as raised:
            scan(server.data, body)
        assert "'text_query'" in str(raised.value) and plain in str(raised.value)
    # Its dense search works as before.
    assert search(server.data, dataset=plain, vector=[0.0] * DIM, k=3).num_rows == 3


def test_hybrid_search_action_errors(server, informative, still_serving):
    with pytest.raises(INVALID_ARGUMENT, match="needs 'text_query'"):
        action(server.data, "HybridSearch", {"dataset": informative, "vector": [0.0] * DIM})
    with pytest.raises(INVALID_ARGUMENT, match="'vectors'"):
        action(server.data, "HybridSearch", {"dataset": informative, "text_query": "red",
                                             "vectors": [[0.0] * DIM]})
    with pytest.raises(NOT_FOUND, match="no_such_dataset_h1"):
        action(server.data, "HybridSearch", {"dataset": "no_such_dataset_h1", "text_query": "red",
                                             "alpha": 0})


@pytest.mark.parametrize("columns,mention", [
    ("text,missing", "'missing', which the schema does not have"),
    ("year", "'year' of type int32"),
    ("text,text", "'text' twice"),
])
def test_bad_text_columns_metadata(server, ds, still_serving, columns, mention):
    table = corpus_table(random_vectors(), {"longbow.text.columns": columns})
    with pytest.raises(INVALID_ARGUMENT) as raised:
        put_table(server.data, ds, table)
    assert "'longbow.text.columns'" in str(raised.value) and mention in str(raised.value)
    with pytest.raises(NOT_FOUND):
        stats(server.data, ds)  # nothing was created
