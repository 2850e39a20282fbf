"""Recall-QPS plot from index_bench's output: one curve per engine from its "sweep
ef:recall:qps" line (points in ef order), QPS on a log scale against recall@10, as
ann-benchmarks draws them.

    build/bench/bench/index_bench --rows 100000 ... | tee index_bench.txt
    .venv/bin/pip install -r python/bench-requirements.txt   # matplotlib, once
    .venv/bin/python bench/plot_recall_qps.py index_bench.txt --out docs/img/recall_qps.png

With --data, index_bench names each curve engine/group ("arbalest/example"); --group example
plots that group's curves alone, one per engine. Several outputs (e.g. a float16 run beside the
float32 one) draw on the same axes; a repeated engine name is suffixed with its file's name.
"""

from __future__ import annotations

import argparse
import pathlib
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

ENGINE = re.compile(r"^(\S+)\s+\d+\s+\d+\s+\|")
SWEEP = re.compile(r"^\s+sweep ef:recall:qps (.*)$")


def parse(text: str) -> tuple[str, dict[str, list[tuple[float, float, int]]]]:
    """(command line, {engine: [(recall, qps, ef), ...]})."""
    command, curves, engine = "", {}, None
    for line in text.splitlines():
        if line.startswith("command:"):
            command = line[len("command:"):].strip()
        elif (m := ENGINE.match(line)) and m.group(1) != "engine":
            engine = m.group(1)
        elif (m := SWEEP.match(line)) and engine:
            points = [p.split(":") for p in m.group(1).split()]
            curves[engine] = [(float(r), float(q), int(e)) for e, r, q in points]
            engine = None
    return command, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=pathlib.Path, nargs="+",
                        help="index_bench's printed output (one file or more)")
    parser.add_argument("--group", default="",
                        help="only the curves of this query group (engine/GROUP), named by engine")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    commands, curves = [], {}
    for path in args.output:
        command, found = parse(path.read_text())
        if not found:
            raise SystemExit(f"{path}: no 'sweep ef:recall:qps' lines (is it index_bench output?)")
        commands.append(command)
        for engine, points in found.items():
            if args.group:
                if not engine.endswith("/" + args.group):
                    continue
                engine = engine[: -len(args.group) - 1]
            if engine in curves:
                engine = f"{engine} ({path.stem})"
            curves[engine] = points
    if not curves:
        raise SystemExit(f"no curves of group {args.group!r}")
    command = " ; ".join(commands)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for engine, points in curves.items():
        ax.plot([r for r, _, _ in points], [q for _, q, _ in points], marker="o", ms=3,
                label=engine)
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (log)")
    ax.set_yscale("log")
    ax.set_xlim(left=max(0.5, min(r for p in curves.values() for r, _, _ in p) - 0.02), right=1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(args.title or command, fontsize=9)
    fig.text(0.01, 0.01, command, fontsize=6, family="monospace")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}: {', '.join(f'{e} ({len(p)} points)' for e, p in curves.items())}")


if __name__ == "__main__":
    main()
