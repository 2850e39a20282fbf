"""How many shard-map style writes one etcd takes on this machine: compare-on-revision
transactions through etcd's v3 JSON gateway (the calls a node makes to create a map, bump an
epoch at failover or take an id block; cluster/shard_maps.h), over persistent HTTP connections
as the nodes' libcurl keeps them. Each writer updates its own key (no conflicts), one writer
after the other, then 8 at once. Prints transactions per second and latency percentiles: the
constant of the etcd term in docs/cluster.md's scaling model.

    .venv/bin/python bench/cluster/etcd_write_bench.py --writes 2000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from etcd_util import EtcdProcess  # noqa: E402


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Writer:
    """One key, updated by transactions that compare its mod_revision first."""

    def __init__(self, port: int, key: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key
        self.revision = 0
        self.latencies: list[float] = []

    def call(self, path: str, body: dict) -> dict:
        self.connection.request("POST", path, json.dumps(body),
                                {"Content-Type": "application/json"})
        reply = self.connection.getresponse()
        return json.loads(reply.read())

    def write(self, value: str) -> None:
        start = time.perf_counter()
        compare = [{"key": b64(self.key), "target": "MOD", "result": "EQUAL",
                    "mod_revision": str(self.revision)}]
        put = [{"request_put": {"key": b64(self.key), "value": b64(value)}}]
        answer = self.call("/v3/kv/txn", {"compare": compare, "success": put})
        if not answer.get("succeeded"):
            raise RuntimeError(f"transaction on {self.key} failed: {answer}")
        self.revision = int(answer["header"]["revision"])
        self.latencies.append(time.perf_counter() - start)


def run(port: int, writers: int, writes: int) -> tuple[float, list[float]]:
    pool = [Writer(port, f"/bench/shards/{writers}-writers/ds{i}") for i in range(writers)]
    value = json.dumps({"dataset": "ds", "shards": 16, "placement": [
        {"replicas": ["node-a", "node-b"], "primary": "node-a", "epoch": 1}] * 16})
    per_writer = writes // writers

    def work(writer: Writer) -> None:
        for _ in range(per_writer):
            writer.write(value)

    threads = [threading.Thread(target=work, args=(w,)) for w in pool]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return per_writer * writers / elapsed, [x for w in pool for x in w.latencies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp)).start()
        try:
            port = etcd.client_port
            print(f"{'writers':>8} {'txn/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            for writers in (1, 8):
                rate, latencies = run(port, writers, args.writes)
                latencies.sort()
                p99 = latencies[int(len(latencies) * 0.99) - 1]
                print(f"{writers:>8} {rate:>8.0f} {statistics.median(latencies) * 1e3:>8.2f} "
                      f"{p99 * 1e3:>8.2f}")
        finally:
            etcd.kill()
    print(f"\n    .venv/bin/python bench/cluster/etcd_write_bench.py --writes {args.writes}")


if __name__ == "__main__":
    main()
