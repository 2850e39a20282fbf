"""Cuts this directory's slice out of the full WordNet x all-MiniLM-L6-v2 set (114,659 corpus
rows, 1,500 queries): a seeded sample of corpus rows and of each kind of query, texts kept.

    .venv/bin/python tests/integration/data/wordnet_minilm/make_slice.py FULL_SET_DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib

import numpy as np

ROWS = 6000
QUERIES_PER_KIND = 100
SEED = 17


def read_jsonl(path: pathlib.Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_jsonl(path: pathlib.Path, records: list[dict]) -> None:
    # mtime 0: the same input makes the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        for r in records:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full", type=pathlib.Path, help="directory of the full set")
    args = parser.parse_args()
    out = pathlib.Path(__file__).parent
    rng = np.random.default_rng(SEED)
    corpus = np.load(args.full / "corpus_f16.npy")
    texts = read_jsonl(args.full / "corpus.jsonl.gz")
    rows = np.sort(rng.choice(len(corpus), ROWS, replace=False))
    np.save(out / "corpus_f16.npy", corpus[rows])
    write_jsonl(out / "corpus.jsonl.gz",
                [{"id": texts[r]["id"], "row": int(r), "text": texts[r]["text"]} for r in rows])
    queries = np.load(args.full / "dev_queries.npy")
    query_texts = read_jsonl(args.full / "dev_queries.jsonl.gz")
    picked = []
    for kind in ("synset", "example"):
        of_kind = [i for i, q in enumerate(query_texts) if q["kind"] == kind]
        picked += sorted(rng.choice(of_kind, QUERIES_PER_KIND, replace=False).tolist())
    np.save(out / "queries.npy", queries[picked].astype(np.float32))
    write_jsonl(out / "queries.jsonl.gz",
                [{"kind": query_texts[i]["kind"], "row": i, "text": query_texts[i]["text"]}
                 for i in picked])


if __name__ == "__main__":
    main()
