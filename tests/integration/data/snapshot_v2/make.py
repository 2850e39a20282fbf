"""Makes this fixture: a data directory written by a server built before per-segment graph
files (snapshot format version 2: one <dataset>@<lsn>-<n>/ directory holding rows files, the
append-only vectors file and one graph, index.hnsw; commit ba92642 and earlier), for
test_segment_files.py's upgrade test. Run from the repository root with such a build:

    ARBALEST_BIN=<old build>/arbalest .venv/bin/python \
        tests/integration/data/snapshot_v2/make.py

It writes data/ (wal/ and snapshots/) and expected.json (the ids each dataset holds, and the
make_table calls its rows came from). Two datasets: "docs" (euclidean: the vectors file holds
every row) and "cos" (cosine: it holds the graph's normalized rows). Each snapshot holds the
first 500 rows, all in the graph, two of them deleted; the log after it 50 more rows and one
more delete. The server is killed with SIGKILL, so nothing else is snapshotted.
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
METADATA = {"docs": None, "cos": {"metric": "cosine"}}


def table(name, rows, start):
    made = make_table(rows, 8, start_id=start)
    return made.replace_schema_metadata(METADATA[name]) if METADATA[name] else made


def main():
    expected = {"puts": PUTS, "ids": {}}
    with tempfile.TemporaryDirectory() as work:
        srv = ServerProcess(Path(work), ["--wal-segment-size", "64KiB", "--snapshot-interval",
                                         "0", "--snapshot-wal-bytes", "0",
                                         "--compact-deleted-fraction", "0"]).start()
        for name in METADATA:
            for rows, start in PUTS[:2]:
                put_table(srv.data, name, table(name, rows, start))
            while action(srv.data, "check_readiness", {"dataset": name})[0]["status"] != "READY":
                time.sleep(0.05)
            assert action(srv.data, "delete", {"dataset": name, "ids": [5, 305]})[0]["deleted"] == 2
            [report] = action(srv.data, "snapshot", {"dataset": name})[0]["snapshot"]
            assert report["indexed_rows"] == 500, report
        for name in METADATA:
            rows, start = PUTS[2]
            put_table(srv.data, name, table(name, rows, start))
            assert action(srv.data, "delete", {"dataset": name, "ids": [7]})[0]["deleted"] == 1
            expected["ids"][name] = sorted(scan(srv.data, name).column("id").to_pylist())
        srv.stop(signal.SIGKILL)
        shutil.rmtree(HERE / "data", ignore_errors=True)
        shutil.copytree(srv.data_dir, HERE / "data")
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n")


if __name__ == "__main__":
    main()
