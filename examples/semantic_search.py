"""Semantic search over real text with arbalest_client: WordNet's synsets embedded with
all-MiniLM-L6-v2 (384-d): the full wordnet-minilm set (corpus_f16.npy, corpus.jsonl.gz,
dev_queries.npy, dev_queries.jsonl.gz) or the 6,000-row slice committed under
tests/integration/data/wordnet_minilm (queries.npy, queries.jsonl.gz).

    python examples/semantic_search.py DATA_DIR [--url grpc://127.0.0.1:3000] [--rows N]

Loads the corpus (vectors + text) into a cosine dataset, searches with the dev queries
(precomputed embeddings of their texts; no model is needed at query time), prints the best
hits of a few queries beside their text, a hybrid (BM25 + dense) search, and recall@10 against
the exact neighbours among the loaded rows (found by brute force with numpy).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np

import arbalest_client as ab


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--url", default="grpc://127.0.0.1:3000")
    p.add_argument("--dataset", default="wordnet")
    p.add_argument("--rows", type=int, default=None, help="load only the first N rows")
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args()

    vectors = np.load(args.data_dir / "corpus_f16.npy").astype(np.float32)
    texts = read_jsonl(args.data_dir / "corpus.jsonl.gz")
    n = min(args.rows or len(texts), len(texts))
    prefix = "dev_queries" if (args.data_dir / "dev_queries.npy").exists() else "queries"
    queries = np.load(args.data_dir / f"{prefix}.npy").astype(np.float32)
    query_texts = [q["text"] for q in read_jsonl(args.data_dir / f"{prefix}.jsonl.gz")]

    db = ab.Client(args.url)
    t0 = time.monotonic()
    docs = db.create_dataset(args.dataset, metric="cosine", text_columns=["text"],
                             mode="overwrite", data={
                                 "id": np.arange(n), "vector": vectors[:n],
                                 "synset": [t["id"] for t in texts[:n]],
                                 "text": [t["text"] for t in texts[:n]]})
    docs.wait_ready()
    print(f"loaded and indexed {n} rows in {time.monotonic() - t0:.1f} s")

    for i in (0, 1, len(queries) - 1):
        print(f"\nquery: {query_texts[i]}")
        hits = docs.search(queries[i], k=3, columns=["text"])
        for row in hits.to_pylist():
            print(f"  {row['score']:.3f}  {row['text'][:100]}")

    print("\nhybrid, 'musical instrument' + the vector of query 0:")
    for row in docs.search(queries[0], k=3, text="musical instrument", columns=["text"]
                           ).to_pylist():
        print(f"  {row['score']:.4f}  {row['text'][:100]}")

    m = min(args.queries, len(queries))
    t0 = time.monotonic()
    found = docs.search(queries[:m], k=10, columns=[])  # the server's default ef
    seconds = time.monotonic() - t0
    got = found.column("id").to_numpy().reshape(m, 10)
    # The exact top 10 among the loaded rows: unit vectors, so cosine is the inner product.
    truth = np.argsort(-(queries[:m] @ vectors[:n].T), axis=1)[:, :10]
    recall = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)])
    print(f"\n{m} queries in one call: {seconds:.2f} s, recall@10 {recall:.3f}")


if __name__ == "__main__":
    main()
