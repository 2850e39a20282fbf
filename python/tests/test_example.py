"""examples/semantic_search.py on the first 3,000 rows of the wordnet-minilm data (shared/
beside the checkout, as in CI)."""

import os
import subprocess
import sys

from conftest import PYTHON_DIR, REPO_ROOT

DATA = REPO_ROOT.parent / "shared" / "data" / "wordnet-minilm"


def test_semantic_search_example(url):
    assert (DATA / "corpus_f16.npy").exists(), f"{DATA} is missing"
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "semantic_search.py"), str(DATA), "--url",
         url, "--rows", "3000", "--queries", "50", "--dataset", "wordnet_example"],
        capture_output=True, text=True, env=env, timeout=150)
    assert result.returncode == 0, result.stderr
    assert "loaded and indexed 3000 rows" in result.stdout
    assert "query: nationalization" in result.stdout
    assert "50 queries in one call" in result.stdout
