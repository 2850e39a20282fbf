"""Makes this fixture: a data directory written by a server built before each segment had its
own deleted-rows file (snapshot format version 4: each segment's rows, vectors and graph files,
and one tombstones.roaring in dataset numbering), for test_segment_deletes.py's upgrade test.
Run from the repository root with such a build:

    ARBALEST_BIN=<old build>/arbalest .venv/bin/python \
        tests/integration/data/snapshot_v4/make.py

It writes data/ (wal/ and snapshots/) and expected.json (the ids each dataset holds, the
make_table calls its rows came from, the segment size). Two datasets: "euclidean" (the vectors
file holds every row) and "cosine" (it holds the graph's normalized rows). Segments of 200
rows (--segment-max-bytes 6400 at d=8) sealed at batch boundaries: puts of 300, 200 and 200
rows make three segments; three rows, one in each, are deleted and compacted, one more
deleted; the snapshot holds them all linked. The log after it: 50 more rows and one more
delete. The server is killed with SIGKILL, so nothing else is snapshotted.
"""

import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from arbalest_util import (ServerProcess, action, make_table, put_table, scan,  # noqa: E402
                           stats, wait_indexed)

PUTS = [(300, 0), (200, 300), (200, 500), (50, 700)]  # (rows, start_id), d=8
SEGMENT_BYTES = "6400"
METADATA = {"euclidean": None, "cosine": {"metric": "cosine"}}


FLAGS = ["--wal-segment-size", "64KiB", "--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
         "--compact-deleted-fraction", "0", "--segment-merge", "false", "--segment-max-bytes",
         SEGMENT_BYTES]


def table(name, rows, start):
    made = make_table(rows, 8, start_id=start)
    return made.replace_schema_metadata(METADATA[name]) if METADATA[name] else made


def snapshot_three_segments(client, name):
    """Three segments, a compaction of a row in each, one more row deleted, the snapshot."""
    for rows, start in PUTS[:3]:
        put_table(client, name, table(name, rows, start))
    wait_indexed(client, name)
    assert stats(client, name)["segments"] == 3
    assert action(client, "delete", {"dataset": name, "ids": [5, 305, 505]})[0]["deleted"] == 3
    assert action(client, "compact", {"dataset": name})[0]["reclaimed_rows"] == 3
    assert action(client, "delete", {"dataset": name, "ids": [6]})[0]["deleted"] == 1
    wait_indexed(client, name)
    [report] = action(client, "snapshot", {"dataset": name})[0]["snapshot"]
    assert report["indexed_rows"] == 697, report


def log_more(client, name):
    """Rows and a delete after the snapshot, in the log only; returns the ids then held."""
    rows, start = PUTS[3]
    put_table(client, name, table(name, rows, start))
    assert action(client, "delete", {"dataset": name, "ids": [7]})[0]["deleted"] == 1
    return sorted(scan(client, name).column("id").to_pylist())


def keep(data_dir, expected):
    """The fixture: the data directory as the SIGKILL left it, and what it holds."""
    shutil.rmtree(HERE / "data", ignore_errors=True)
    shutil.copytree(data_dir, HERE / "data")
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n")


def main():
    expected = {"puts": PUTS, "segment_bytes": SEGMENT_BYTES, "ids": {}}
    with tempfile.TemporaryDirectory() as work:
        srv = ServerProcess(Path(work), FLAGS).start()
        for name in METADATA:
            snapshot_three_segments(srv.data, name)
        expected["ids"] = {name: log_more(srv.data, name) for name in METADATA}
        srv.stop(signal.SIGKILL)
        keep(srv.data_dir, expected)


if __name__ == "__main__":
    main()
