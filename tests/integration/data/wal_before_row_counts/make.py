"""Makes this fixture: the WAL a server built before row counts and seals (the WAL format of
commit 34e66cf and earlier) writes, for test_wal_integrity.py's upgrade test. Run from the
repository root with such a build:

    ARBALEST_BIN=<old build>/arbalest .venv/bin/python \
        tests/integration/data/wal_before_row_counts/make.py

It writes wal/ (segments of 4 KiB: several, none sealed, no LOG_START) and expected.json (the
ids each dataset holds). The server is killed with SIGKILL, so that nothing is snapshotted and
the log alone holds everything.
"""

import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from arbalest_util import ServerProcess, action, make_table, put_table, scan  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as work:
        srv = ServerProcess(Path(work), ["--wal-segment-size", "4KiB", "--snapshot-interval", "0",
                                         "--snapshot-wal-bytes", "0",
                                         "--compact-deleted-fraction", "0"]).start()
        for start in (0, 40, 80):
            put_table(srv.data, "legacy", make_table(40, 4, start_id=start))
        put_table(srv.data, "dropped", make_table(10, 4))
        assert action(srv.data, "delete", {"dataset": "legacy", "ids": [5, 50, 100]})[0][
            "deleted"] == 3
        assert action(srv.data, "compact", {"dataset": "legacy"})[0]["reclaimed_rows"] == 3
        put_table(srv.data, "legacy", make_table(40, 4, start_id=120))
        assert action(srv.data, "delete", {"dataset": "legacy", "ids": [130, 2]})[0][
            "deleted"] == 2
        action(srv.data, "delete-dataset", {"dataset": "dropped"})
        expected = {"legacy": sorted(scan(srv.data, "legacy").column("id").to_pylist())}
        srv.stop(signal.SIGKILL)
        shutil.rmtree(HERE / "wal", ignore_errors=True)
        shutil.copytree(srv.data_dir / "wal", HERE / "wal")
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n")


if __name__ == "__main__":
    main()
