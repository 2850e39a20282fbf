"""The README's raw Arrow Flight example, run as written against a real server (only the address is
changed), so that it cannot rot: it must print its results, and its search of row 0 among the
rows of row 0's own category must find row 0 first."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pyarrow.flight as flight

from arbalest_util import REPO_ROOT


def readme_example() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("### Raw Arrow Flight"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_and_finds_its_own_row(server):
    code = readme_example().replace("grpc://127.0.0.1:3000", f"grpc://127.0.0.1:{server.port}")
    assert f"{server.port}" in code
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    ticket = flight.Ticket(json.dumps(scope["query"]).encode())
    found = scope["client"].do_get(ticket).read_all()
    assert found.column("id")[0].as_py() == 0, found
    assert found.num_rows == 5
    assert set(found.column("category").to_pylist()) == {scope["row"]["category"]}
    assert "distance" in out.getvalue()
