"""The allocator behind Arrow's buffers (`--memory-pool`, src/common/memory_pool_choice.h):
each backend the Arrow library carries serves puts and searches, the default is the system
allocator, and an unknown one is refused before the server starts."""

from __future__ import annotations

import subprocess

import numpy as np
import pyarrow as pa
import pytest

from arbalest_util import binary_path, make_table, put_table, scan, unique_name


def available_backends() -> list[str]:
    """The pools this Arrow library was built with (the server links the same library)."""
    return ["system"] + [name for name in ("jemalloc", "mimalloc")
                         if name in pa.supported_memory_backends()]


@pytest.mark.parametrize("backend", available_backends())
def test_each_memory_pool_serves_puts_and_searches(start_server, backend):
    srv = start_server(["--fsync", "none", "--memory-pool", backend])
    assert f"Arrow memory pool: {backend}" in srv.stderr()
    ds = unique_name("pool")
    table = make_table(2000, 16, rng=np.random.default_rng(7))
    put_table(srv.data, ds, table)
    assert scan(srv.data, ds).num_rows == 2000
    row = 1234
    query = table.column("vector")[row].values.to_numpy().tolist()
    found = scan(srv.data, {"search": {"dataset": ds, "vector": query, "k": 1}})
    assert found.column("id").to_pylist() == [row]


def test_the_default_pool_is_the_system_allocator(start_server):
    srv = start_server(["--fsync", "none"])
    assert "Arrow memory pool: system" in srv.stderr()


def test_an_unknown_memory_pool_is_refused_before_starting(tmp_path):
    done = subprocess.run([str(binary_path()), "serve", "--data-dir", str(tmp_path / "d"),
                           "--memory-pool", "tcmalloc"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert "--memory-pool" in done.stderr and "tcmalloc" in done.stderr, done.stderr
    assert not (tmp_path / "d").exists()
