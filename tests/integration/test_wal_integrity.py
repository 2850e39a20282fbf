"""WAL integrity against the real binary: a lost segment (first, middle or last) stops startup
with a message naming the missing LSNs; a damaged append mid-log stops it too, and with
--wal-skip-corrupt later deletes and compactions still hit exactly the rows they named; a bit
flip in the last record is refused while a torn tail (cut short, or a block of zeros) is cut
with a warning; a log written before row counts and seals still replays.

The servers log with small WAL segments and never snapshot (so the log holds everything), and
are killed with SIGKILL before the log is damaged the way a disk or an operator would.
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
from pathlib import Path

import numpy as np
import pytest

from arbalest_util import ServerProcess, action, make_table, put_table, scan

ARGS = ["--wal-segment-size", "16KiB", "--snapshot-interval", "0", "--snapshot-wal-bytes", "0",
        "--compact-deleted-fraction", "0"]
ROWS = 100  # per batch: an append record of about 5 KiB
HEADER = struct.Struct("<IIQI4x")  # header_crc, payload_length, lsn, payload_crc, reserved
APPEND = 12  # payload type of an append naming its rows by key (persist/wal_format.cc)
LEGACY_FIXTURE = Path(__file__).parent / "data" / "wal_before_row_counts"


def segments(srv: ServerProcess) -> list[Path]:
    return sorted((srv.data_dir / "wal").glob("*.wal"))


def records(path: Path) -> list[dict]:
    """The records of a segment file: offset, LSN, payload length and type."""
    data = path.read_bytes()
    found, offset = [], 0
    while offset + HEADER.size <= len(data):
        _, length, lsn, _ = HEADER.unpack_from(data, offset)
        found.append({"path": path, "offset": offset, "lsn": lsn, "length": length,
                      "type": data[offset + HEADER.size]})
        offset += HEADER.size + length
    return found


def record(srv: ServerProcess, lsn: int) -> dict:
    for path in segments(srv):
        for r in records(path):
            if r["lsn"] == lsn and r["type"] != 6:  # not a seal, which shares the next LSN
                return r
    raise AssertionError(f"no record {lsn}")


def overwrite(path: Path, offset: int, data: bytes):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def start(workdir: Path, extra=()) -> ServerProcess:
    return ServerProcess(workdir, ARGS + list(extra)).start()


def start_fails(workdir: Path, extra=()) -> str:
    """Starts a server that must exit non-zero before serving; returns what it logged."""
    srv = ServerProcess(workdir, ARGS + list(extra))
    logged = len(srv.stderr())
    with pytest.raises(RuntimeError, match="exited with code"):
        srv.start()
    assert srv.proc.returncode not in (0, None)
    return srv.stderr()[logged:]


def put_batches(srv: ServerProcess, name: str, count: int, first_id=0) -> list[int]:
    """Puts `count` batches of ROWS rows (ids from first_id on), one put each; returns each
    batch's ack seq, the LSN of its WAL record."""
    seqs = []
    for i in range(count):
        table = make_table(ROWS, 8, start_id=first_id + i * ROWS)
        acks = put_table(srv.data, name, table)
        seqs.append(acks[-1]["seq"])
    return seqs


def ids_of(srv: ServerProcess, name: str) -> set[int]:
    ids = scan(srv.data, name).column("id").to_pylist()
    assert len(ids) == len(set(ids)), "a row twice"
    return set(ids)


def delete(srv: ServerProcess, name: str, ids) -> int:
    return action(srv.data, "delete", {"dataset": name, "ids": sorted(int(i) for i in ids)})[0][
        "deleted"]


def batch_ids(i: int) -> set[int]:
    return set(range(i * ROWS, (i + 1) * ROWS))


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_a_lost_segment_stops_startup_naming_the_missing_lsns(tmp_path, which):
    srv = start(tmp_path)
    seqs = put_batches(srv, "ds", 12)
    srv.stop(signal.SIGKILL)
    files = segments(srv)
    assert len(files) >= 4, files
    first_lsns = [int(f.stem) for f in files]
    index = {"first": 0, "middle": len(files) // 2, "last": len(files) - 1}[which]
    files[index].unlink()
    if which == "last":
        missing = f"LSN {first_lsns[index]} on are missing"
    else:
        missing = f"LSNs {first_lsns[index] if index else 1}..{first_lsns[index + 1] - 1} are missing"
    logged = start_fails(tmp_path)
    assert missing in logged, logged
    assert "--wal-skip-corrupt" in logged, logged

    # With --wal-skip-corrupt it starts, says what is lost, and has every row the other
    # segments hold.
    srv = start(tmp_path, ["--wal-skip-corrupt"])
    assert missing in srv.stderr()
    if which == "first":  # the dataset's creation is lost with it
        assert "records of dataset 'ds'" in srv.stderr()
        with pytest.raises(Exception, match="not found"):
            scan(srv.data, "ds")
    else:
        end = first_lsns[index + 1] if index + 1 < len(files) else float("inf")
        lost = {i for i, seq in enumerate(seqs) if first_lsns[index] <= seq < end}
        assert lost
        expected = set().union(*(batch_ids(i) for i in range(len(seqs)) if i not in lost))
        assert ids_of(srv, "ds") == expected
    srv.stop()


def test_a_skipped_append_leaves_later_deletes_on_the_rows_they_named(tmp_path):
    srv = start(tmp_path)
    seqs = put_batches(srv, "ds", 6)
    rng = np.random.default_rng(12)
    # Deletes of rows logged after the append that will be lost, with a compaction between.
    doomed = set(rng.choice(range(3 * ROWS, 6 * ROWS), 20, replace=False).tolist()) | {5, 17}
    assert delete(srv, "ds", doomed) == len(doomed)
    assert action(srv.data, "compact", {"dataset": "ds"})[0]["reclaimed_rows"] == len(doomed)
    seqs += put_batches(srv, "ds", 1, first_id=6 * ROWS)
    later = {3 * ROWS + 1, 5 * ROWS + 2, 6 * ROWS + 3} - doomed
    assert delete(srv, "ds", later) == len(later)
    srv.stop(signal.SIGKILL)

    lost = record(srv, seqs[2])
    overwrite(lost["path"], lost["offset"] + HEADER.size + lost["length"] // 2, b"\xa5\x5a")
    logged = start_fails(tmp_path)
    assert f"{lost['path']} at offset {lost['offset']}" in logged, logged
    assert "payload checksum mismatch" in logged and "--wal-skip-corrupt" in logged, logged

    srv = start(tmp_path, ["--wal-skip-corrupt"])
    everything = set(range(7 * ROWS))
    assert ids_of(srv, "ds") == everything - batch_ids(2) - doomed - later
    assert f"dataset 'ds' lost rows {2 * ROWS}..{3 * ROWS - 1} ({ROWS} rows)" in srv.stderr()
    # It goes on numbering as replay left it: deletes hit their rows, now and after a restart.
    assert delete(srv, "ds", {4 * ROWS + 7, 1}) == 2
    srv.stop(signal.SIGKILL)
    srv = start(tmp_path, ["--wal-skip-corrupt"])
    assert ids_of(srv, "ds") == everything - batch_ids(2) - doomed - later - {4 * ROWS + 7, 1}
    srv.stop()


def test_a_bit_flip_in_the_last_record_stops_startup(tmp_path):
    srv = start(tmp_path)
    seqs = put_batches(srv, "ds", 5)
    srv.stop(signal.SIGKILL)
    last = record(srv, seqs[-1])
    assert last["type"] == APPEND
    overwrite(last["path"], last["offset"] + HEADER.size + last["length"] // 2, b"\x01")
    logged = start_fails(tmp_path)
    assert f"{last['path']} at offset {last['offset']}" in logged, logged
    assert f"LSN {seqs[-1]}" in logged and "not a torn write" in logged, logged
    assert last["path"].stat().st_size == last["offset"] + HEADER.size + last["length"]

    srv = start(tmp_path, ["--wal-skip-corrupt"])
    assert ids_of(srv, "ds") == set(range(4 * ROWS))
    srv.stop()


@pytest.mark.parametrize("tear", ["cut short", "zeros"])
def test_a_torn_tail_is_cut_with_a_warning(tmp_path, tear):
    srv = start(tmp_path)
    seqs = put_batches(srv, "ds", 5)
    srv.stop(signal.SIGKILL)
    last = record(srv, seqs[-1])
    payload = last["offset"] + HEADER.size
    end = payload + last["length"]
    if tear == "cut short":  # SIGKILL in the middle of a writev
        with open(last["path"], "r+b") as f:
            f.truncate(payload + last["length"] // 2)
    else:  # a machine crash: the blocks from one on were never written
        block = (payload + last["length"] // 3 + 511) // 512 * 512
        overwrite(last["path"], block, bytes(end - block))
    srv = start(tmp_path)
    assert "truncating" in srv.stderr() and "torn final record" in srv.stderr()
    assert ids_of(srv, "ds") == set(range(4 * ROWS))
    # The torn record is cut; the segment ends with the seal that says the log goes on in the
    # segment this start opened.
    kept = records(last["path"])
    assert [r["offset"] for r in kept if r["type"] == 6] == [last["offset"]]
    assert kept[-1]["offset"] == last["offset"]
    put_batches(srv, "ds", 1, first_id=10 * ROWS)  # the log goes on
    srv.stop(signal.SIGKILL)
    srv = start(tmp_path)
    assert ids_of(srv, "ds") == set(range(4 * ROWS)) | batch_ids(10)
    srv.stop()


def test_a_log_written_before_row_counts_replays(tmp_path):
    shutil.copytree(LEGACY_FIXTURE / "wal", tmp_path / "data" / "wal")
    expected = json.loads((LEGACY_FIXTURE / "expected.json").read_text())
    srv = start(tmp_path)
    assert ids_of(srv, "legacy") == set(expected["legacy"])
    with pytest.raises(Exception, match="not found"):
        scan(srv.data, "dropped")
    # It goes on in the current format: deletes and compactions after the old records.
    assert delete(srv, "legacy", {1, 3}) == 2
    # The fixture's last delete (ids 2 and 130) was not compacted yet: 4 rows go.
    assert action(srv.data, "compact", {"dataset": "legacy"})[0]["reclaimed_rows"] == 4
    put_table(srv.data, "legacy", make_table(10, 4, start_id=1000))
    assert delete(srv, "legacy", {1001, 150}) == 2
    srv.stop(signal.SIGKILL)
    srv = start(tmp_path)
    assert ids_of(srv, "legacy") == (set(expected["legacy"]) - {1, 3, 150}) | (
        set(range(1000, 1010)) - {1001})
    srv.stop()
