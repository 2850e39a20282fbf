"""Makes this fixture: a data directory written by a server built before incremental snapshots
(snapshot format version 1: one <dataset>@<lsn>-<n>/ directory holding data.parquet with every
row and index.hnsw with the graph and its vectors; commit 69d2565 and earlier), for
test_snapshots.py's upgrade test. Run from the repository root with such a build:

    ARBALEST_BIN=<old build>/arbalest .venv/bin/python \
        tests/integration/data/snapshot_v1/make.py

It writes data/ (wal/ and snapshots/) and expected.json (the ids "docs" holds, and the
make_table calls its rows came from). The snapshot holds the first 500 rows, all of them in
the graph, two of them deleted; the log after it 50 more rows and one more delete. The server
is killed with SIGKILL, so nothing else is snapshotted.
"""

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from arbalest_util import ServerProcess, action, make_table, put_table, scan  # noqa: E402

PUTS = [(300, 0), (200, 300), (50, 500)]  # (rows, start_id), d=8


def main():
    with tempfile.TemporaryDirectory() as work:
        srv = ServerProcess(Path(work), ["--wal-segment-size", "64KiB", "--snapshot-interval",
                                         "0", "--snapshot-wal-bytes", "0",
                                         "--compact-deleted-fraction", "0"]).start()
        for rows, start in PUTS[:2]:
            put_table(srv.data, "docs", make_table(rows, 8, start_id=start))
        while action(srv.data, "check_readiness", {"dataset": "docs"})[0]["status"] != "READY":
            time.sleep(0.05)
        assert action(srv.data, "delete", {"dataset": "docs", "ids": [5, 305]})[0]["deleted"] == 2
        [report] = action(srv.data, "snapshot", {"dataset": "docs"})[0]["snapshot"]
        assert report["indexed_rows"] == 500, report
        rows, start = PUTS[2]
        put_table(srv.data, "docs", make_table(rows, 8, start_id=start))
        assert action(srv.data, "delete", {"dataset": "docs", "ids": [7]})[0]["deleted"] == 1
        expected = {"puts": PUTS,
                    "ids": sorted(scan(srv.data, "docs").column("id").to_pylist())}
        srv.stop(signal.SIGKILL)
        shutil.rmtree(HERE / "data", ignore_errors=True)
        shutil.copytree(srv.data_dir, HERE / "data")
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n")


if __name__ == "__main__":
    main()
