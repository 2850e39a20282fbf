"""Shared by the Python benchmarks (bench/restart, bench/memory, bench/snapshot): random 384-d
float32 rows put over Flight, waiting until a dataset is indexed, a restart after SIGKILL timed
to READY, and a process's resident memory."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import action, vector_array  # noqa: E402

DIM = 384
BATCH_ROWS = 10_000


def put_random_rows(client: flight.FlightClient, dataset: str, rows: int, seed: int,
                    metadata: dict[str, str] | None = None, first_id: int = 0) -> None:
    """Puts `rows` rows (int64 ids first_id.., standard normal DIM-d float32 vectors) to
    `dataset` in BATCH_ROWS-row batches over one DoPut stream, and waits for every ack.
    `metadata`: the schema's (index configuration)."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIM))],
                       metadata=metadata)
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(dataset), schema)
    for start in range(0, rows, BATCH_ROWS):
        n = min(BATCH_ROWS, rows - start)
        vectors = rng.standard_normal((n, DIM), dtype=np.float32)
        ids = np.arange(first_id + start, first_id + start + n)
        writer.write_batch(pa.record_batch([pa.array(ids, pa.int64()),
                                            vector_array(vectors)], schema=schema))
    writer.done_writing()
    while reader.read() is not None:
        pass
    writer.close()


def put_seconds(client: flight.FlightClient, name: str, table: pa.Table) -> float:
    """Seconds one DoPut of `table` into `name` takes until its ack."""
    start = time.perf_counter()
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(name), table.schema)
    writer.write_table(table)
    writer.done_writing()
    assert json.loads(reader.read().to_pybytes())["status"] == "acked"
    writer.close()
    return time.perf_counter() - start


def wait_ready(client: flight.FlightClient, dataset: str, timeout: float) -> dict:
    """check_readiness until READY (every row indexed); exits after `timeout` seconds. Rides
    out a server that is not serving yet."""
    deadline = time.monotonic() + timeout
    status = None
    while True:
        try:
            status = action(client, "check_readiness", {"dataset": dataset})[0]
            if status["status"] == "READY":
                return status
        except flight.FlightError:
            pass  # not serving yet
        if time.monotonic() > deadline:
            raise SystemExit(f"{dataset} not READY after {timeout:.0f} s: {status}")
        time.sleep(0.02)


def restart_until_ready(srv, dataset: str, rows: int, timeout: float) -> tuple[float, str]:
    """SIGKILLs the server (an arbalest_util.ServerProcess), starts it again on its data dir,
    and returns the seconds until `dataset` is READY with all `rows` indexed and the recovery
    log line."""
    srv.proc.kill()
    srv.proc.wait()
    srv.stop()
    start = time.monotonic()
    srv.start()
    status = wait_ready(srv.data, dataset, timeout)
    elapsed = time.monotonic() - start
    assert status["index_len"] == rows, status
    recovery = [line for line in srv.stderr().splitlines() if "recovered" in line][-1]
    return elapsed, recovery.split("info", 1)[-1].strip()


def memory_bytes(pid: int) -> dict[str, int]:
    """The process's resident memory now ("rss") and its peak so far ("peak"), in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields["peak" if key == "VmHWM" else "rss"] = int(rest.split()[0]) * 1024
    return fields
