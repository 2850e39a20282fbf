"""examples/semantic_search.py on the first 3,000 rows of the WordNet MiniLM slice committed for
the integration tests (real sentence embeddings and texts)."""

import gzip
import json
import os
import re
import subprocess
import sys

from conftest import PYTHON_DIR, REPO_ROOT

DATA = REPO_ROOT / "tests" / "integration" / "data" / "wordnet_minilm"


def test_semantic_search_example(url):
    with gzip.open(DATA / "queries.jsonl.gz", "rt", encoding="utf-8") as f:
        first_query = json.loads(f.readline())["text"]
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "semantic_search.py"), str(DATA), "--url",
         url, "--rows", "3000", "--queries", "50", "--dataset", "wordnet_example"],
        capture_output=True, text=True, env=env, timeout=150)
    assert result.returncode == 0, result.stderr
    assert "loaded and indexed 3000 rows" in result.stdout
    assert f"query: {first_query}" in result.stdout
    recall = re.search(r"50 queries in one call: [\d.]+ s, recall@10 ([\d.]+)", result.stdout)
    assert recall, result.stdout
    assert float(recall.group(1)) >= 0.95, result.stdout
