"""Graph benchmark: edges/s loaded (DoPut to [dataset, "edges"], acked = durable) and
traverse-graph calls/s at 1M edges, beside networkx doing the same traversal (every simple
path of up to --hops edges from the start, scored) in the same run, over the same edges.

Usage: .venv/bin/python bench/graph/graph_bench.py [--rows N] [--edges E] [--hops H]
       [--queries Q] [--fsync POLICY] [--bin build/release/arbalest]
networkx must be importable (for example: pip install --target build/pylib networkx, then
PYTHONPATH=build/pylib). Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402

PREDICATES = ["cites", "mentions", "part_of", "related"]


def report(**fields):
    print(json.dumps(fields), flush=True)


def random_edges(rng, rows: int, count: int) -> pa.Table:
    # Skewed subjects and objects (a few hubs, a long tail), as in real knowledge graphs.
    subjects = (rng.pareto(1.5, count) * rows / 50).astype(np.int64) % rows
    objects = rng.integers(0, rows, count)
    return pa.table({
        "subject": pa.array(subjects, pa.int64()),
        "predicate": pa.array(np.array(PREDICATES)[rng.integers(0, len(PREDICATES), count)]),
        "object": pa.array(objects, pa.int64()),
        "weight": pa.array(rng.uniform(0.1, 1.0, count).astype(np.float32)),
    })


def networkx_paths(graph: nx.MultiDiGraph, start: int, hops: int, decay: float) -> list:
    """The traversal traverse-graph answers, written with networkx: weighted, outgoing."""
    paths = []

    def walk(nodes, score):
        if len(nodes) - 1 == hops:
            return
        for _, to, data in graph.out_edges(nodes[-1], data=True):
            if to in nodes:
                continue
            hop = data["weight"] * (decay if len(nodes) > 1 else 1.0)
            paths.append((nodes + [to], score * hop))
            walk(nodes + [to], score * hop)

    walk([start], 1.0)
    paths.sort(key=lambda p: -p[1])
    return paths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--hops", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--fsync", default="always")
    parser.add_argument("--bin", default=None)
    args = parser.parse_args()
    if args.bin:
        os.environ["ARBALEST_BIN"] = args.bin
    rng = np.random.default_rng(20)
    rows = pa.table({
        "id": pa.array(np.arange(args.rows), pa.int64()),
        "vector": vector_array(rng.standard_normal((args.rows, 8), dtype=np.float32)),
    })
    edges = random_edges(rng, args.rows, args.edges)
    srv = ServerProcess(Path(tempfile.mkdtemp()), ["--fsync", args.fsync, "--log-level", "warn"])
    srv.start()
    try:
        client = srv.data
        put_table(client, "bench", rows, batch_size=50_000)

        start = time.perf_counter()
        acks = put_table(client, "bench", edges, batch_size=args.batch,
                         descriptor=flight.FlightDescriptor.for_path("bench", "edges"))
        load_s = time.perf_counter() - start
        assert sum(a["edges"] for a in acks) == args.edges
        report(measure="load", system="arbalest", edges=args.edges, seconds=round(load_s, 3),
               edges_per_s=round(args.edges / load_s), batch=args.batch, fsync=args.fsync)

        start = time.perf_counter()
        graph = nx.MultiDiGraph()
        graph.add_weighted_edges_from(zip(edges["subject"].to_pylist(),
                                          edges["object"].to_pylist(),
                                          edges["weight"].to_pylist()))
        nx_load_s = time.perf_counter() - start
        report(measure="load", system="networkx", edges=args.edges, seconds=round(nx_load_s, 3),
               edges_per_s=round(args.edges / nx_load_s), note="in-process, not durable")

        starts = [int(s) for s in rng.choice(edges["subject"].to_numpy(), args.queries)]
        body = lambda s: json.dumps({"dataset": "bench", "start": s, "max_hops": args.hops,
                                     "weighted": True, "decay": 0.5,
                                     "limit": 100000}).encode()
        start = time.perf_counter()
        first = list(client.do_action(flight.Action("traverse-graph", body(starts[0]))))
        report(measure="first traversal (builds the adjacency)", system="arbalest",
               seconds=round(time.perf_counter() - start, 3))

        paths = 0
        start = time.perf_counter()
        for s in starts:
            reply = json.loads(next(iter(client.do_action(
                flight.Action("traverse-graph", body(s))))).body.to_pybytes())
            paths += len(reply)
        seconds = time.perf_counter() - start
        report(measure="traverse", system="arbalest", hops=args.hops, queries=args.queries,
               traversals_per_s=round(args.queries / seconds, 1),
               paths_per_query=round(paths / args.queries, 1), note="over Flight, JSON answers")

        nx_paths = 0
        start = time.perf_counter()
        for s in starts:
            nx_paths += len(networkx_paths(graph, s, args.hops, 0.5))
        nx_seconds = time.perf_counter() - start
        report(measure="traverse", system="networkx", hops=args.hops, queries=args.queries,
               traversals_per_s=round(args.queries / nx_seconds, 1),
               paths_per_query=round(nx_paths / args.queries, 1), note="in-process")
        assert nx_paths == paths, (nx_paths, paths)  # the same traversal

        start = time.perf_counter()
        stats = action(client, "GetGraphStats", {"dataset": "bench"})[0]
        report(measure="GetGraphStats (label propagation)", system="arbalest",
               seconds=round(time.perf_counter() - start, 3),
               communities=stats["community_count"], nodes=stats["node_count"])
        del first
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
