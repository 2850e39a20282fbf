"""The id map's share of compacting one segment of ten (bench/compact/id_map_compaction_bench.cc),
for this tree's id map and for another revision's (default main), side by side.

Compiles the driver twice with g++ against Arrow C++ from the virtual environment's pyarrow
(as the build does): once with this tree's src/store/id_row_map.cc and row_keys.cc, once with
`git show <base>:src/store/id_row_map.{h,cc}`; then runs them alternately, --reps times each
per size, and prints the medians: of the compaction's id-map step, and of the lookups a put
makes after it (IdRowMap::Replaced, per 10k ids).

    .venv/bin/python bench/compact/id_map_compaction_bench.py [--ids 1000000,4000000]
        [--deleted 0.3] [--reps 3] [--base main]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "bench" / "compact" / "id_map_compaction_bench.cc"


def compile_driver(out: Path, include: Path, sources: list[Path], driver: Path = DRIVER) -> None:
    """Compiles `driver` with `sources` (include path `include`, then this tree's src/ for the
    headers it does not hold) against the environment's Arrow C++ and the system CRoaring."""
    lib = Path(pa.get_library_dirs()[0])
    arrow = sorted(lib.glob("libarrow.so.*"))[0]
    subprocess.run(["g++", "-std=c++20", "-O2", "-DNDEBUG", f"-I{include}", f"-I{ROOT / 'src'}",
                    "-isystem", pa.get_include(), str(driver), *map(str, sources), "-o", str(out),
                    str(arrow), "-lroaring", f"-Wl,-rpath,{lib}"], check=True)


def build_pair(base: str, names: list[str], tmp: Path, driver: Path = DRIVER) -> dict[str, Path]:
    """The driver compiled twice in `tmp`: against src/store/<name>.{h,cc} of revision `base`
    for each of `names` that `base` has, and against this tree's. Returns {base: binary,
    "this tree": binary}."""
    old = tmp / "old" / "store"
    old.mkdir(parents=True)
    old_sources = []
    for name in names:
        for file in (f"{name}.h", f"{name}.cc"):
            shown = subprocess.run(["git", "show", f"{base}:src/store/{file}"], cwd=ROOT,
                                   capture_output=True, text=True)
            if shown.returncode == 0:  # else a file the base did not have yet
                (old / file).write_text(shown.stdout)
                if file.endswith(".cc"):
                    old_sources.append(old / file)
    builds = {base: tmp / "before", "this tree": tmp / "after"}
    compile_driver(builds[base], tmp / "old", old_sources, driver)
    compile_driver(builds["this tree"], ROOT / "src",
                   [ROOT / "src" / "store" / f"{name}.cc" for name in names], driver)
    return builds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", default="1000000,4000000")
    parser.add_argument("--deleted", type=float, default=0.3)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--base", default="main")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        builds = build_pair(args.base, ["id_row_map", "row_keys"], tmp)
        for ids in [int(x) for x in args.ids.split(",")]:
            seconds = {label: [] for label in builds}
            lookups = {label: [] for label in builds}
            for _ in range(args.reps):
                for label, binary in builds.items():
                    out = subprocess.run([str(binary), "--ids", str(ids), "--deleted",
                                          str(args.deleted), "--reps", "1"], check=True,
                                         capture_output=True, text=True).stdout
                    line = json.loads(out)
                    line["build"] = label
                    print(json.dumps(line), flush=True)
                    seconds[label].append(line["seconds"])
                    lookups[label].append(line["lookup_seconds_per_10k"])
            print(json.dumps({"ids": ids, **{f"median_seconds {label}": statistics.median(v)
                                             for label, v in seconds.items()},
                              **{f"median_lookup_seconds_per_10k {label}": statistics.median(v)
                                 for label, v in lookups.items()}}), flush=True)
    print(f"reproduce: .venv/bin/python bench/compact/id_map_compaction_bench.py --ids {args.ids} "
          f"--deleted {args.deleted} --reps {args.reps} --base {args.base}")


if __name__ == "__main__":
    main()
