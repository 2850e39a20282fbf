"""The README's quickstart and docs/python.md's examples, executed against a real server so
they cannot rot."""

import contextlib
import io
import os
import re

import pytest

from conftest import REPO_ROOT


def python_blocks(path, after=None):
    text = (REPO_ROOT / path).read_text()
    if after:
        text = text[text.index(after):]
    return re.findall(r"```python\n(.*?)```", text, re.S)


def run(code, url, tmp_path):
    code = code.replace("grpc://127.0.0.1:3000", url)
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})
    finally:
        os.chdir(cwd)
    return out.getvalue()


def test_readme_quickstart(url, tmp_path):
    block = python_blocks("README.md", after="## Use it from Python")[0]
    assert "import arbalest_client" in block
    everyday = block[block.index("import arbalest_client"):].splitlines()
    everyday = [line for line in everyday if line.strip() and not line.startswith(
        ("rng", "df", " "))]
    assert len(everyday) <= 12, everyday  # the target for the everyday tasks
    output = run(block, url, tmp_path)
    assert "distance" in output and "score" in output
    run(block, url, tmp_path)  # re-running it is safe (mode="overwrite")


@pytest.mark.parametrize("index", range(len(python_blocks("docs/python.md"))))
def test_python_md_examples(url, tmp_path, index):
    blocks = python_blocks("docs/python.md")
    run(blocks[index], url, tmp_path)
