"""Injected I/O errors for the integration tests: the environment that loads
tests/faults/libio_faults.so (an LD_PRELOAD library, see tests/faults/io_faults.c) into a real
server and makes chosen file-system calls fail with EIO, ENOSPC, EMFILE, ...

    faults = IoFaults(workdir, ops="writev,fdatasync", path="/wal/", errno="ENOSPC")
    srv = ServerProcess(workdir, args, env=faults.env()).start()   # starts unarmed
    with faults.armed():
        ...                                   # the calls fail here
    faults.injected(srv)                      # how many did, from the server's stderr

The library is found next to the server binary (build/<type>/tests/faults/libio_faults.so),
or at $ARBALEST_IO_FAULTS_LIB.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from arbalest_util import binary_path

# What the server says for the failures a client may retry (see docs/protocol.md, Errors).
DISK_FULL = "resource exhausted: disk full"
TOO_MANY_FILES = "resource exhausted: too many open files"
LOG_FAILED = "the write-ahead log failed"


def library_path() -> Path:
    env = os.environ.get("ARBALEST_IO_FAULTS_LIB")
    path = Path(env) if env else binary_path().parent / "tests" / "faults" / "libio_faults.so"
    if not path.exists():
        raise RuntimeError(f"the fault injection library is not at {path}: build it (make build) "
                           "or set ARBALEST_IO_FAULTS_LIB")
    return path


class IoFaults:
    """One fault plan for one server: which calls fail, on which paths, how. Faults fire only
    while armed (a file in `workdir` exists), so the server starts and recovers normally."""

    def __init__(self, workdir, ops: str, path: str = "", errno: str = "EIO", after: int = 0,
                 probability: float = 1.0, seed: int = 1, count: int = 0, short: bool = False):
        self.arm_file = Path(workdir) / "io_faults.armed"
        self.settings = {
            "IO_FAULTS_OPS": ops, "IO_FAULTS_PATH": path, "IO_FAULTS_ERRNO": errno,
            "IO_FAULTS_AFTER": str(after), "IO_FAULTS_PROBABILITY": str(probability),
            "IO_FAULTS_SEED": str(seed), "IO_FAULTS_COUNT": str(count),
            "IO_FAULTS_SHORT": "1" if short else "0",
        }

    def env(self) -> dict:
        return {"LD_PRELOAD": str(library_path()), "IO_FAULTS_ARM_FILE": str(self.arm_file),
                **self.settings}

    def arm(self):
        """Faults fire from now on; `after` and `count` count from here."""
        self.arm_file.parent.mkdir(parents=True, exist_ok=True)
        self.arm_file.unlink(missing_ok=True)
        self.arm_file.touch()

    def disarm(self):
        self.arm_file.unlink(missing_ok=True)

    @contextlib.contextmanager
    def armed(self):
        self.arm()
        try:
            yield self
        finally:
            self.disarm()

    @staticmethod
    def injected(srv) -> list[str]:
        """The faults the library reported injecting into `srv` (lines of its stderr)."""
        return [line for line in srv.stderr().splitlines() if line.startswith("io_faults: ")]
