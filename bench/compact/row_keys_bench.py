"""The cost of RowKeys::Compacted (the numbering a compaction gives the text index and the id
map, store/row_keys.h) as compactions accumulate gone keys, for this tree's RowKeys and another
revision's (default main), side by side (bench/compact/row_keys_bench.cc: each compaction drops
30% of a random window of rows, as many rows are appended).

Compiles the driver against this tree's src/store/row_keys.cc and against
`git show <base>:src/store/row_keys.{h,cc}`, runs them alternately --reps times, and prints
each run's checkpoints (the median seconds of a Compacted over the last --every compactions,
the gone keys' bytes, 10k RowOf lookups) and the medians over the runs.

    .venv/bin/python bench/compact/row_keys_bench.py [--rows 1000000] [--compactions 400]
        [--every 50] [--window 10000] [--reps 2] [--base main]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from id_map_compaction_bench import ROOT, build_pair  # noqa: E402

DRIVER = ROOT / "bench" / "compact" / "row_keys_bench.cc"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compactions", type=int, default=400)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--base", default="main")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        builds = build_pair(args.base, ["row_keys"], Path(tmp), DRIVER)
        results: dict[tuple[str, int], list[dict]] = {}
        for _ in range(args.reps):
            for label, binary in builds.items():
                out = subprocess.run([str(binary), "--rows", str(args.rows), "--compactions",
                                      str(args.compactions), "--every", str(args.every),
                                      "--window", str(args.window)],
                                     check=True, capture_output=True, text=True).stdout
                for text in out.splitlines():
                    line = json.loads(text)
                    line["build"] = label
                    print(json.dumps(line), flush=True)
                    results.setdefault((label, line["compactions"]), []).append(line)
        for (label, compactions), lines in sorted(results.items(), key=lambda r: r[0][1]):
            print(json.dumps({
                "build": label, "compactions": compactions, "gone_keys": lines[0]["gone_keys"],
                "median_compacted_ms": round(1000 * statistics.median(
                    line["median_compacted_seconds"] for line in lines), 3),
                "gone_key_bytes": lines[0]["gone_key_bytes"],
                "median_rowof_ms_per_10k": round(1000 * statistics.median(
                    line["rowof_seconds_per_10k"] for line in lines), 3)}), flush=True)
    print(f"reproduce: .venv/bin/python bench/compact/row_keys_bench.py --rows {args.rows} "
          f"--compactions {args.compactions} --every {args.every} --window {args.window} "
          f"--reps {args.reps} --base {args.base}")


if __name__ == "__main__":
    main()
