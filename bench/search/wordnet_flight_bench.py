"""Search over Flight, end to end, on real sentence embeddings: the WordNet x all-MiniLM-L6-v2
set (114,659 384-d unit vectors with their "lemma: gloss" texts; 1,000 synset and 500
usage-example queries with exact top-100 ground truth).

Starts the real `arbalest serve` on free loopback ports with a temporary data dir, puts the
corpus (int64 id, float32 vector, utf8 text; metric cosine) in 10k-row batches over one DoPut,
waits until it is READY (every row indexed), then, for each kind of query:

- dense: DoGet search tickets at each --efs value (0: no "ef", the server's default) from 1 and
  4 client threads (--clients), each thread with its own Flight client: QPS, p50/p99 latency,
  recall@10 against the exact neighbours; QPS at recall 0.95 interpolated between efs.
- hybrid: the query's own text as `text_query` (alpha 0.5, default ef) beside the same search
  with alpha 0 (BM25 only): recall@10 of hybrid, of dense and of BM25 against the dense ground
  truth, and the overlap of hybrid with the BM25-only top 10.

Clients run in this Python process (JSON tickets, Arrow decoding): their cost is part of the
figures, as it would be for a Python user. Clients and server share the machine's cores.

    .venv/bin/python bench/search/wordnet_flight_bench.py --data DIR [--bin build/release/arbalest]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from bench_util import wait_ready  # noqa: E402
from arbalest_util import ServerProcess, put_table, vector_array  # noqa: E402

K = 10


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def search_ids(client: flight.FlightClient, keys: dict) -> list[int]:
    ticket = flight.Ticket(json.dumps({"search": keys}).encode())
    return client.do_get(ticket).read_all().column("id").to_pylist()


def run_queries(port: int, requests: list[dict], clients: int):
    """(ids per request, latencies in seconds, wall seconds) with `clients` threads taking
    requests in turn, each with its own client."""
    results: list = [None] * len(requests)
    latency = np.zeros(len(requests))
    next_index = iter(range(len(requests)))
    lock = threading.Lock()
    connections = [flight.FlightClient(f"grpc://127.0.0.1:{port}") for _ in range(clients)]
    for c in connections:  # connect before the clock starts
        search_ids(c, requests[0])

    def work(client):
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            start = time.perf_counter()
            results[i] = search_ids(client, requests[i])
            latency[i] = time.perf_counter() - start

    threads = [threading.Thread(target=work, args=(c,)) for c in connections]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for c in connections:
        c.close()
    return results, latency, wall


def recall(got: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(g) & set(t.tolist())) for g, t in zip(got, truth))
    return hits / (K * len(got))


def at_recall(sweep: list[tuple[int, float, float]], target: float):
    """(QPS, ef) at `target` recall, linear between sweep points in ef order; None if never."""
    for i, (ef, r, qps) in enumerate(sweep):
        if r < target:
            continue
        if i == 0:
            return qps, ef
        ef0, r0, qps0 = sweep[i - 1]
        t = (target - r0) / max(1e-9, r - r0)
        return qps0 + t * (qps - qps0), ef
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the set's directory")
    parser.add_argument("--bin", type=Path, default=REPO / "build" / "release" / "arbalest")
    parser.add_argument("--efs", default="0,16,24,32,48,64,96,128,192",
                        help="comma-separated; 0 = no ef (the server's default)")
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--queries", type=int, default=0, help="per kind; 0 = all")
    args = parser.parse_args()
    efs = [int(e) for e in args.efs.split(",")]
    client_counts = [int(c) for c in args.clients.split(",")]
    print("command:", " ".join([Path(sys.executable).name] + sys.argv))

    corpus = np.load(args.data / "corpus_f16.npy").astype(np.float32)
    texts = [r["text"] for r in read_jsonl(args.data / "corpus.jsonl.gz")]
    queries = np.load(args.data / "dev_queries.npy")
    query_meta = read_jsonl(args.data / "dev_queries.jsonl.gz")
    truth = np.load(args.data / "dev_gt.npy")[:, :K]
    kinds = sorted({m["kind"] for m in query_meta}, reverse=True)  # synset, example
    groups = {kind: [i for i, m in enumerate(query_meta) if m["kind"] == kind] for kind in kinds}
    if args.queries:
        groups = {kind: rows[:args.queries] for kind, rows in groups.items()}
    print(f"data: {corpus.shape[0]} x {corpus.shape[1]}, cosine, "
          + ", ".join(f"{len(rows)} {kind} queries" for kind, rows in groups.items()))

    os.environ["ARBALEST_BIN"] = str(args.bin)
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(Path(workdir)).start()
        try:
            name = "wordnet"
            schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 384)),
                                ("text", pa.string())], metadata={"longbow.metric": "cosine"})
            table = pa.Table.from_arrays([pa.array(np.arange(len(texts)), pa.int64()),
                                          vector_array(corpus), pa.array(texts)], schema=schema)
            start = time.perf_counter()
            put_table(server.data, name, table, batch_size=10_000)
            acked = time.perf_counter() - start
            wait_ready(server.meta, name, timeout=1800)
            ready = time.perf_counter() - start
            print(f"put: {len(texts)} rows acked in {acked:.1f} s ({len(texts) / acked:.0f} rows/s), "
                  f"READY after {ready:.1f} s ({len(texts) / ready:.0f} rows/s end to end)")

            for kind, rows in groups.items():
                vectors = [queries[i].tolist() for i in rows]
                want = truth[rows]
                print(f"\n{kind} queries ({len(rows)}), dense, DoGet:")
                print(f"  {'ef':>7} {'clients':>7} {'recall@10':>9} {'QPS':>7} {'p50 ms':>7} "
                      f"{'p99 ms':>7}")
                sweeps: dict[int, list] = {c: [] for c in client_counts}
                for ef in efs:
                    requests = [{"dataset": name, "vector": v, "k": K, **({"ef": ef} if ef else {})}
                                for v in vectors]
                    for clients in client_counts:
                        got, latency, wall = run_queries(server.port, requests, clients)
                        r, qps = recall(got, want), len(rows) / wall
                        if ef:
                            sweeps[clients].append((ef, r, qps))
                        print(f"  {ef or 'default':>7} {clients:>7} {r:9.3f} {qps:7.0f} "
                              f"{np.percentile(latency, 50) * 1e3:7.2f} "
                              f"{np.percentile(latency, 99) * 1e3:7.2f}")
                for clients, sweep in sweeps.items():
                    got = at_recall(sweep, 0.95)
                    print(f"  recall 0.95 with {clients} client(s): "
                          + (f"{got[0]:.0f} QPS (ef <= {got[1]})" if got else "not reached"))

                # Hybrid: the query's own text.
                dense_req = [{"dataset": name, "vector": v, "k": K} for v in vectors]
                hybrid_req = [{**d, "text_query": query_meta[i]["text"], "alpha": 0.5}
                              for d, i in zip(dense_req, rows)]
                text_req = [{**h, "alpha": 0} for h in hybrid_req]
                dense, _, _ = run_queries(server.port, dense_req, 1)
                hybrid, latency, wall = run_queries(server.port, hybrid_req, 1)
                bm25, _, _ = run_queries(server.port, text_req, 1)
                overlap = sum(len(set(h) & set(b)) for h, b in zip(hybrid, bm25)) / (K * len(rows))
                print(f"  hybrid (alpha 0.5, default ef, 1 client): {len(rows) / wall:.0f} QPS, "
                      f"p50 {np.percentile(latency, 50) * 1e3:.2f} ms, "
                      f"p99 {np.percentile(latency, 99) * 1e3:.2f} ms")
                print(f"  recall@10 vs the dense ground truth: dense {recall(dense, want):.3f}, "
                      f"hybrid {recall(hybrid, want):.3f}, BM25 only {recall(bm25, want):.3f}; "
                      f"hybrid top 10 shared with BM25-only top 10: {overlap:.3f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
