#!/usr/bin/env python3
"""What hostile requests cost the server's memory: for each case a fresh server under
--max-memory (200MiB by default) gets the request, and the script prints the outcome (acked or
the error) and the server's peak RSS (VmHWM) against the limit. Also the RSS each dataset costs
(empty, and with one row) beside what the budget charges for it. Not run in CI.

Cases: `wide` (2 rows of 100,000 float32 dimensions; with --max-dimension 0 so that the index
has to take them), `wide-fill` (40-row puts of 100,000 dimensions until refused), `empty` and
`one-row` (datasets created until refused), `message` (one 1.5 GiB DoPut batch), `huge-dim` (2
rows of 1,000,000 dimensions: do not run it against a build without the per-width arena chunks,
it needs 24 GB there).

    .venv/bin/python bench/memory/hostile_memory.py [--binary build/release/arbalest]
        [--cases wide,wide-fill,empty,one-row,message] [--max-memory 200MiB] [--old]

--old: the binary predates --max-dimension and --max-message-size (do not pass them).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import REPO, memory_bytes  # noqa: E402

from arbalest_util import ServerProcess, action, put_table, vector_array  # noqa: E402

MIB = 2**20


def wide_table(rows: int, dim: int, start: int = 0) -> pa.Table:
    rng = np.random.default_rng(start)
    return pa.table({"id": pa.array(np.arange(start, start + rows), pa.int64()),
                     "vector": vector_array(rng.standard_normal((rows, dim), np.float32))})


def short(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).split('. gRPC client debug')[0][:160]}"


def settle(srv) -> None:
    try:
        action(srv.data, "check_readiness", {"wait": 300})
    except Exception:  # noqa: BLE001 - a dead server is reported by the caller
        pass
    time.sleep(1)


def case_wide(srv, dim=100_000) -> str:
    try:
        acks = put_table(srv.data, "wide", wide_table(2, dim))
        outcome = f"acked {acks}"
    except Exception as e:  # noqa: BLE001
        outcome = short(e)
    settle(srv)
    return outcome


def case_wide_fill(srv) -> str:
    rows = 0
    for i in range(100):
        try:
            put_table(srv.data, "wide", wide_table(40, 100_000, start=rows))
        except Exception as e:  # noqa: BLE001
            settle(srv)
            return f"{rows} rows acked, then {short(e)}"
        rows += 40
    settle(srv)
    return f"{rows} rows acked, never refused"


def case_datasets(srv, rows: int) -> str:
    table = wide_table(max(rows, 1), 4)
    before = memory_bytes(srv.proc.pid)["rss"]
    created = 0
    outcome = "never refused"
    for i in range(5000):
        try:
            if rows == 0:
                writer, _ = srv.data.do_put(flight.FlightDescriptor.for_path(f"d{i}"),
                                            table.schema)
                writer.close()
            else:
                put_table(srv.data, f"d{i}", table)
        except Exception as e:  # noqa: BLE001
            outcome = short(e)
            break
        created += 1
    settle(srv)
    grown = memory_bytes(srv.proc.pid)["rss"] - before
    charged = action(srv.data, "stats", {})[0]["memory_used_bytes"]
    return (f"{created} created, then {outcome}; RSS {grown / max(created, 1) / 1024:.0f} KiB "
            f"per dataset, {charged / max(created, 1) / 1024:.0f} KiB charged")


def case_message(srv, size=1536 * MIB) -> str:
    dim = 1024
    table = wide_table(size // (4 * dim), dim)
    try:
        put_table(srv.data, "big", table, batch_size=table.num_rows)
        return "acked"
    except Exception as e:  # noqa: BLE001
        return short(e)


CASES = {
    "wide": (case_wide, ["--max-dimension", "0"]),
    "huge-dim": (lambda srv: case_wide(srv, 1_000_000), ["--max-dimension", "0"]),
    "wide-fill": (case_wide_fill, ["--max-dimension", "0", "--max-message-size", "16MiB"]),
    "empty": (lambda srv: case_datasets(srv, 0), []),
    "one-row": (lambda srv: case_datasets(srv, 1), []),
    "message": (case_message, []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=str(REPO / "build" / "release" / "arbalest"))
    parser.add_argument("--cases", default="wide,wide-fill,empty,one-row,message")
    parser.add_argument("--max-memory", default="200MiB")
    parser.add_argument("--old", action="store_true")
    args = parser.parse_args()
    os.environ["ARBALEST_BIN"] = args.binary
    print(" ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print(f"| case | outcome | peak RSS (VmHWM) | baseline RSS |\n| --- | --- | --- | --- |")
    for name in args.cases.split(","):
        run, flags = CASES[name]
        with tempfile.TemporaryDirectory(prefix="arbalest_hostile_") as work:
            srv = ServerProcess(Path(work), ["--fsync", "none", "--snapshot-interval", "0",
                                             "--max-memory", args.max_memory,
                                             *([] if args.old else flags)])
            srv.start()
            baseline = memory_bytes(srv.proc.pid)["rss"]
            outcome = run(srv)
            peak = memory_bytes(srv.proc.pid)["peak"] if srv.alive() else None
            alive = srv.alive()
            srv.stop()
        peak_text = f"{peak / MIB:.0f} MiB" if peak else "server died"
        print(f"| {name} | {outcome}{'' if alive else ' (server died)'} | {peak_text} | "
              f"{baseline / MIB:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
