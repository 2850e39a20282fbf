"""arbalest-cli: every command against the real server, in process (fast), and the console
script through a subprocess."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from arbalest_client import Client, cli
from conftest import PYTHON_DIR


def run(capsys, url, *argv):
    code = cli.main(["--url", url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(1)
    n = 120
    df = pd.DataFrame({"id": np.arange(n), "vector": list(rng.random((n, 4), dtype="float32")),
                       "tag": rng.choice(["x", "y"], n)})
    df.to_parquet(d / "a.parquet")
    csv = df.copy()
    csv["vector"] = [" ".join(map(str, v)) for v in csv.vector]
    csv.to_csv(d / "a.csv", index=False)
    with open(d / "a.jsonl", "w") as f:
        for row in df.itertuples():
            f.write(json.dumps({"id": int(row.id), "vector": row.vector.tolist(),
                                "tag": row.tag}) + "\n")
    np.save(d / "a.npy", np.stack(df.vector))
    return d, df


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "npy"])
def test_load_each_format_then_query(capsys, url, files, fmt, name):
    d, df = files
    code, out, err = run(capsys, url, "load", name, str(d / f"a.{fmt}"), "--metric", "cosine",
                         "--wait")
    assert code == 0, err
    assert f"loaded 120 rows into {name}" in out and "every row indexed" in out
    code, out, err = run(capsys, url, "search", name, "--vector", "[0.1, 0.2, 0.3, 0.4]",
                         "-k", "3", "--format", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and {"id", "score", "distance"} <= set(rows[0])
    if fmt != "npy":
        code, out, err = run(capsys, url, "scan", name, "--where", "tag = 'x'", "--limit",
                             "1000", "--format", "csv", "--columns", "id,tag")
        assert code == 0, err
        assert len(out.splitlines()) - 1 == int((df.tag == "x").sum())


def test_load_upsert_replaces_rows_by_id(capsys, url, files, name):
    d, df = files
    for _ in range(2):  # the second load replaces every row
        code, out, err = run(capsys, url, "load", name, str(d / "a.parquet"), "--mode", "upsert")
        assert code == 0, err
    assert Client(url).dataset(name).count() == 120
    code, out, err = run(capsys, url, "load", name + "_plain", str(d / "a.parquet"))
    assert code == 0, err
    code, out, err = run(capsys, url, "load", name + "_plain", str(d / "a.parquet"), "--mode",
                         "upsert")
    assert code == 1 and "not created with unique ids" in err, (out, err)


def test_search_matrix_text_datasets_stats_snapshot_drop(capsys, url, files, name):
    d, df = files
    assert run(capsys, url, "load", name, str(d / "a.parquet"), "--text-columns", "tag")[0] == 0
    code, out, _ = run(capsys, url, "load", name, str(d / "a.parquet"), "--mode", "overwrite",
                       "--text-columns", "tag", "--no-progress")
    assert code == 0 and "loaded 120 rows" in out
    code, out, err = run(capsys, url, "search", name, "--vector-file", str(d / "a.npy"),
                         "--rows", "0,1", "-k", "2", "--where", "id >= 0", "--columns", "tag")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["query", "id", "score", "distance", "tag"]
    assert "(4 rows)" in out
    code, out, _ = run(capsys, url, "search", name, "--text", "x", "--alpha", "0", "-k", "2")
    assert code == 0 and "(2 rows)" in out
    code, out, _ = run(capsys, url, "datasets")
    assert code == 0 and name in out and "(1 rows)" not in out.split(name)[0]
    code, out, _ = run(capsys, url, "datasets", "--format", "names")
    assert name in out.splitlines()
    code, out, _ = run(capsys, url, "stats", name)
    assert code == 0 and json.loads(out)["rows"] == 120
    code, out, _ = run(capsys, url, "stats")
    assert code == 0 and "total_rows" in json.loads(out)
    code, out, _ = run(capsys, url, "snapshot", name)
    assert code == 0 and name in out
    code, out, _ = run(capsys, url, "snapshot")
    assert code == 0
    code, out, _ = run(capsys, url, "drop", name)
    assert code == 0 and f"dropped {name}" in out
    code, out, err = run(capsys, url, "drop", name)
    assert code == 1 and "DatasetNotFound" in err and "not found" in err
    assert run(capsys, url, "drop", name, "--missing-ok")[0] == 0


def test_errors_exit_1_with_the_message(capsys, url, files):
    code, _, err = run(capsys, url, "scan", "nope_dataset")
    assert code == 1 and err.strip() == \
        "arbalest-cli: DatasetNotFound: dataset 'nope_dataset' not found"
    code, _, err = run(capsys, url, "scan", "nope_dataset", "--where", "a <")
    assert code == 1 and "WhereSyntaxError" in err and "position 3" in err


def test_bench_prints_a_summary(capsys, url):
    code, out, err = run(capsys, url, "bench", "--rows", "3000", "--dim", "16", "--queries",
                         "30", "--no-progress")
    assert code == 0, err
    for step in ("ingest", "search, one query a call", "search, all in one call", "recall@10"):
        assert step in out
    recall = float(next(line for line in out.splitlines()
                        if line.startswith("recall@10")).split()[-1])
    assert recall >= 0.9


def test_console_script_help_matches_the_docs():
    """--help of each command, through the module entry point the console script calls; every
    command is documented in docs/python.md."""
    doc = (PYTHON_DIR.parent / "docs" / "python.md").read_text()
    out = subprocess.run([sys.executable, "-m", "arbalest_client.cli", "--help"],
                         capture_output=True, text=True, cwd=PYTHON_DIR, check=True).stdout
    for command in ("load", "search", "scan", "datasets", "stats", "drop", "snapshot", "bench"):
        assert command in out
        assert f"arbalest-cli {command}" in doc, f"docs/python.md lacks {command}"
        help_text = subprocess.run(
            [sys.executable, "-m", "arbalest_client.cli", command, "--help"],
            capture_output=True, text=True, cwd=PYTHON_DIR, check=True).stdout
        for flag in [w for w in help_text.split() if w.startswith("--") and w != "--help"]:
            flag = flag.rstrip(",").split("=")[0]
            assert flag in doc, f"docs/python.md lacks {command} {flag}"
