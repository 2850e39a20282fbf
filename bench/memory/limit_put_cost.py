#!/usr/bin/env python3
"""What --max-memory costs a put stream now that, under a limit, malloc unmaps every freed block
of 1 MiB or more (store/free_memory.h): N x 384 float32 rows in 10k-row puts (15 MB messages),
one DoPut stream, `--fsync none`, a fresh server each time, with --max-memory set high enough
never to refuse; the builds given take turns. Prints the seconds until the last ack and until
every row is indexed. Not run in CI.

    .venv/bin/python bench/memory/limit_put_cost.py --binary OLD --binary NEW [--rows 200000]
        [--reps 3] [--max-memory 8GiB]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_util import put_random_rows, wait_ready  # noqa: E402

from arbalest_util import ServerProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", required=True)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-memory", default="8GiB")
    args = parser.parse_args()
    binaries = [os.path.abspath(b) for b in args.binary]
    acked: dict[str, list[float]] = {b: [] for b in binaries}
    ready: dict[str, list[float]] = {b: [] for b in binaries}
    for rep in range(args.reps):
        for binary in binaries:
            os.environ["ARBALEST_BIN"] = binary
            with tempfile.TemporaryDirectory(prefix="arbalest_limitput_") as work:
                srv = ServerProcess(Path(work), ["--fsync", "none", "--snapshot-interval", "0",
                                                 "--max-memory", args.max_memory])
                srv.start()
                start = time.perf_counter()
                put_random_rows(srv.data, "d", args.rows, seed=rep)
                acked[binary].append(time.perf_counter() - start)
                wait_ready(srv.data, "d", 600)
                ready[binary].append(time.perf_counter() - start)
                srv.stop()
            print(f"rep {rep + 1} {binary}: acked {acked[binary][-1]:.2f} s, "
                  f"indexed {ready[binary][-1]:.2f} s", flush=True)
    for binary in binaries:
        print(f"{binary}: median acked {statistics.median(acked[binary]):.2f} s, "
              f"indexed {statistics.median(ready[binary]):.2f} s over {args.reps} runs")


if __name__ == "__main__":
    main()
