"""Fixtures for the client's tests: the real `arbalest serve` binary ($ARBALEST_BIN, default
build/release/arbalest) on free ports of 127.0.0.1, started with the integration suite's
helpers (tests/integration/arbalest_util.py), and the package imported from this checkout."""

from __future__ import annotations

import signal
import sys
import uuid
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PYTHON_DIR.parent
sys.path.insert(0, str(PYTHON_DIR))
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))

from arbalest_util import ServerProcess, binary_path  # noqa: E402

import arbalest_client as ab  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = binary_path()
    if not path.exists():
        pytest.fail(f"arbalest binary not found at {path} (set ARBALEST_BIN)", pytrace=False)
    srv = ServerProcess(tmp_path_factory.mktemp("arbalest")).start()
    yield srv
    code = srv.stop(signal.SIGTERM)
    assert code == 0, f"server did not exit 0 on SIGTERM\n{srv.stderr_tail()}"


@pytest.fixture(scope="module")
def url(server) -> str:
    return f"grpc://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def db(url):
    client = ab.Client(url)
    yield client
    client.close()


@pytest.fixture
def name(request) -> str:
    return f"{request.node.name[:40]}_{uuid.uuid4().hex[:8]}".replace("[", "_").replace(
        "]", "_").replace("-", "_")
