"""Fixtures: the real `arbalest serve` binary ($ARBALEST_BIN, default build/release/arbalest)
on free ports of 127.0.0.1, with a temporary data dir.

- `server`: one server per test module (per xdist worker); tests use unique dataset names.
- `start_server`: a factory for tests that need their own server (flags, env, signals).
Teardown stops every server with SIGTERM and fails the test if it does not exit 0 within a few
seconds; a failing test's report carries the server's stderr.
"""

from __future__ import annotations

import signal

import pytest

from arbalest_util import ServerProcess, binary_path, unique_name

_STASH_SERVERS = pytest.StashKey[list]()


def _check_binary():
    path = binary_path()
    if not path.exists():
        pytest.fail(f"arbalest binary not found at {path} (set ARBALEST_BIN)", pytrace=False)


def _stop_and_check(srv: ServerProcess):
    code = srv.stop(signal.SIGTERM)
    assert code == 0, (
        f"server {' '.join(srv.args)} did not exit 0 on SIGTERM "
        f"(exit code {code}, None = still running after the timeout)\n"
        f"--- server stderr ---\n{srv.stderr_tail()}")


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A server shared by the tests of one module."""
    _check_binary()
    srv = ServerProcess(tmp_path_factory.mktemp("arbalest")).start()
    request.node.stash.setdefault(_STASH_SERVERS, []).append(srv)
    yield srv
    _stop_and_check(srv)


@pytest.fixture
def start_server(request, tmp_path):
    """Factory: start_server(extra_args=[...], env={...}, use_flags=True, preexec=None)
    -> ServerProcess (`preexec` runs in the child before exec).
    Servers still running at teardown are stopped with SIGTERM and must exit 0."""
    _check_binary()
    started = []

    def start(extra_args=(), env=None, use_flags=True, preexec=None):
        srv = ServerProcess(tmp_path / f"srv{len(started)}", extra_args, env, use_flags, preexec)
        started.append(srv)
        request.node.stash.setdefault(_STASH_SERVERS, []).append(srv)
        return srv.start()

    yield start
    for srv in started:
        if srv.alive():
            _stop_and_check(srv)


@pytest.fixture
def ds(request):
    """A dataset name unique to this test."""
    return unique_name(request.node.name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        servers = list(item.stash.get(_STASH_SERVERS, []))
        module = item.getparent(pytest.Module)
        if module is not None:
            servers += module.stash.get(_STASH_SERVERS, [])
        for srv in servers:
            report.sections.append(
                (f"arbalest stderr (port {srv.port})", srv.stderr_tail()))
