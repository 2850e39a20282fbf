#!/usr/bin/env python3
"""Crash campaign: hundreds of SIGKILL points against a real server with churn and injected I/O
errors, checking after every restart that nothing acked was lost and nothing refused appeared.
Not run by CI (300 kills take 15-25 minutes on 2 cores).

    .venv/bin/python scripts/crash_campaign.py                  # 300 kill points
    .venv/bin/python scripts/crash_campaign.py --kills 1000 --seed 7

Each round starts the server on the data directory the previous rounds left (a fresh one every
--epoch rounds, so restarts stay short), checks the invariant, runs a scenario and SIGKILLs the
server at a random moment:
  random      puts (a dataset with ids, one with server-assigned ids) and deletes
  snapshot    ... plus `snapshot` actions and WAL-size triggered snapshots; the kill lands soon
              after a snapshot started (or finished)
  compaction  ... plus `compact` actions and background compactions
  recovery    a kill during the workload, then a second kill while the restart is recovering
  churn       ... plus a dataset dropped and re-created over and over (its vector width
              alternates), with snapshots, so kills land in drops, checkpoints and snapshot
              removal
  faults      the workload under LD_PRELOAD fault injection (tests/faults/io_faults.c): random
              calls of the data directory (writes, fsyncs, opens, renames) fail with ENOSPC,
              EMFILE or EIO; the restart runs without it
  faulty-start  a start under injected faults must either serve or exit 1 with a message
              (never crash); then a clean start must serve everything
Churn (drop/re-create) also runs in a third of the other rounds.

The invariant after each clean restart: every acked row present exactly once with the vector it
was sent with; no row that was never sent; no row whose put the server refused; no row whose
delete was acked; no row gone whose deletes were all refused; the churned dataset holds exactly
one generation's rows, or none once its drop was acked. Every refusal must name its cause
(resource exhausted, the write-ahead log failed). A failed restart is a clean start that does
not serve. Prints per-kind counts, the violations, and the command; exits 1 on any violation or
failed restart.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

from arbalest_util import ServerProcess, action, scan, vectors_of  # noqa: E402
from io_faults import DISK_FULL, LOG_FAILED, TOO_MANY_FILES, IoFaults  # noqa: E402

ROWS_PER_BATCH = 100
MAIN_DIM = 16
SERVER_ARGS = ["--wal-segment-size", "256KiB", "--snapshot-wal-bytes", "1MiB",
               "--snapshot-interval", "0", "--compact-deleted-fraction", "0.05",
               "--compact-min-rows", "50"]
SCENARIOS = {"random": 22, "snapshot": 18, "compaction": 14, "recovery": 12, "churn": 14,
             "faults": 16, "faulty-start": 4}
CLEAR_REFUSALS = (DISK_FULL, TOO_MANY_FILES, LOG_FAILED, "resource exhausted")


class Violation(Exception):
    pass


def refused_by_server(error: Exception) -> bool:
    """Whether the server answered the call with an error (its outcome is known: not done),
    rather than dying under it (its outcome is in doubt)."""
    text = str(error)
    return any(phrase in text for phrase in ("rejected", "resource exhausted", LOG_FAILED,
                                             "snapshot of dataset", "was deleted"))


def batch_for(keys: np.ndarray, with_ids: bool, dim: int = MAIN_DIM) -> pa.RecordBatch:
    vectors = (keys[:, None] * 0.001 + np.arange(dim)[None, :]).astype(np.float32)
    columns = {"vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
               "key": pa.array(keys, pa.int64())}
    if with_ids:
        columns = {"id": pa.array(keys, pa.int64()), **columns}
    return pa.RecordBatch.from_pydict(columns)


class Ledger:
    """What clients of one dataset sent, got acked and got refused."""

    def __init__(self):
        self.sent, self.acked, self.refused = set(), set(), set()
        self.deleted, self.delete_refused, self.delete_in_doubt = set(), set(), set()
        self.errors: list[str] = []


# -- client threads ------------------------------------------------------------------------

class Client(threading.Thread):
    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.first_done = threading.Event()

    def run(self):
        client = flight.connect(f"grpc://127.0.0.1:{self.port}")
        with contextlib.suppress(Exception):  # the server is killed under us
            self.work(client)
        client.close()

    def work(self, client):
        raise NotImplementedError


class Putter(Client):
    """Streams of 1-5 batches of fresh keys, one ack per batch."""

    def __init__(self, port, dataset, ledger: Ledger, with_ids, keys, rng):
        super().__init__(port)
        self.dataset, self.ledger, self.with_ids, self.keys, self.rng = (
            dataset, ledger, with_ids, keys, rng)

    def work(self, client):
        while True:
            batches = []
            for _ in range(self.rng.randint(1, 5)):
                keys = self.keys.take(ROWS_PER_BATCH)
                batches.append((keys, batch_for(keys, self.with_ids)))
            writer, reader = client.do_put(flight.FlightDescriptor.for_path(self.dataset),
                                           batches[0][1].schema)
            try:
                self.stream(writer, reader, batches)
            finally:
                with contextlib.suppress(Exception):
                    writer.close()
            time.sleep(self.rng.uniform(0.0, 0.03))  # bounds the data a round leaves

    def stream(self, writer, reader, batches):
        for keys, batch in batches:
            self.ledger.sent.update(keys.tolist())
            try:
                writer.write_batch(batch)
                if reader.read() is None:
                    writer.close()  # the stream ended without an ack: raises its error
                    raise flight.FlightError("no ack")
            except flight.FlightError as error:
                if not refused_by_server(error):
                    raise
                # This batch was refused; the later ones of the stream are not sent.
                self.ledger.refused.update(keys.tolist())
                self.ledger.errors.append(str(error).split(". gRPC client debug")[0])
                time.sleep(0.01)
                return
            self.ledger.acked.update(keys.tolist())
            self.first_done.set()


class KeySource:
    """Fresh keys for one client thread."""

    def __init__(self, start: int):
        self.next_key = start

    def take(self, n: int) -> np.ndarray:
        keys = np.arange(self.next_key, self.next_key + n)
        self.next_key += n
        return keys


class Deleter(Client):
    def __init__(self, port, dataset, ledger: Ledger, rng):
        super().__init__(port)
        self.dataset, self.ledger, self.rng = dataset, ledger, rng

    def work(self, client):
        while True:
            acked = list(self.ledger.acked - self.ledger.deleted)
            if not acked:
                time.sleep(0.01)
                continue
            keys = {self.rng.choice(acked) for _ in range(self.rng.randint(1, 8))}
            self.ledger.delete_in_doubt |= keys  # until answered
            body = json.dumps({"dataset": self.dataset, "ids": sorted(keys)}).encode()
            try:
                list(client.do_action(flight.Action("delete", body)))
                self.ledger.deleted |= keys
                self.first_done.set()
            except flight.FlightError as error:
                if not refused_by_server(error):
                    raise
                self.ledger.delete_refused |= keys
                self.ledger.errors.append(str(error).split(". gRPC client debug")[0])
            self.ledger.delete_in_doubt -= keys
            time.sleep(self.rng.uniform(0.0, 0.02))


class Caller(Client):
    """Calls an action again and again; counts the calls that did something."""

    def __init__(self, port, kind, body, pause, counts: Counter):
        super().__init__(port)
        self.kind, self.body, self.pause, self.counts = kind, body, pause, counts
        self.started = threading.Event()
        self.busy = False  # a call is in flight

    def work(self, client):
        while True:
            time.sleep(self.pause)
            self.started.set()
            try:
                self.busy = True
                results = action(client, self.kind, self.body)
                self.busy = False
            except flight.FlightError as error:
                self.busy = False
                if not refused_by_server(error):
                    raise
                self.counts[f"{self.kind} refused"] += 1
                continue
            if self.kind == "snapshot":
                self.counts["dataset snapshots written by snapshot calls"] += sum(
                    1 for entry in results[0]["snapshot"] if entry["seconds"] > 0)
            if self.kind == "compact" and results[0]["reclaimed_rows"] > 0:
                self.counts["compactions"] += 1
            self.first_done.set()


class Churn(Client):
    """Creates the dataset `churn` with a few batches, drops it, and again; each creation is a
    new generation (vector width 8 or 16 by parity)."""

    def __init__(self, port, state: "ChurnState", keys, rng, counts: Counter):
        super().__init__(port)
        self.state, self.keys, self.rng, self.counts = state, keys, rng, counts

    def work(self, client):
        state = self.state
        while True:
            if state.live():
                state.drop = "in doubt"
                try:
                    action(client, "delete-dataset", {"dataset": "churn"})
                    state.drop = "acked"
                    self.counts["drops"] += 1
                    self.first_done.set()
                except KeyError:  # its creating put never got through: nothing to drop
                    state.drop = "acked"
                except flight.FlightError as error:
                    if not refused_by_server(error):
                        raise
                    state.drop = "refused"
                    time.sleep(0.02)
                    continue
            state.new_generation()
            for _ in range(self.rng.randint(1, 4)):
                keys = self.keys.take(50)
                state.sent.update(keys.tolist())
                try:
                    descriptor = flight.FlightDescriptor.for_path("churn")
                    batch = batch_for(keys, True, state.dim())
                    writer, reader = client.do_put(descriptor, batch.schema)
                    writer.write_batch(batch)
                    if reader.read() is None:
                        writer.close()  # the stream ended without an ack: raises its error
                        raise flight.FlightError("no ack")
                    writer.close()
                    state.acked.update(keys.tolist())
                except flight.FlightError as error:
                    if not refused_by_server(error):
                        raise
                    state.refused.update(keys.tolist())
                time.sleep(self.rng.uniform(0.0, 0.05))


class ChurnState:
    """The churned dataset's generations: the current one's keys, and its drop's outcome."""

    def __init__(self):
        self.generation = 0
        self.drop = "acked"  # the previous generation (none yet) is gone
        self.sent, self.acked, self.refused = set(), set(), set()
        self.old: set[int] = set()  # keys of earlier generations

    def dim(self) -> int:
        return 8 if self.generation % 2 == 0 else 16

    def live(self) -> bool:
        return self.drop != "acked"

    def new_generation(self):
        self.old |= self.sent
        self.generation += 1
        self.drop = None
        self.sent, self.acked, self.refused = set(), set(), set()

    def check(self, client):
        try:
            table = scan(client, "churn")
            present = table.column("key").to_pylist()
        except KeyError:
            table, present = None, []
        keys = set(present)
        if len(keys) != len(present):
            raise Violation("churn: duplicated rows")
        if keys & self.old:
            raise Violation(f"churn: rows of a dropped generation, e.g. {sorted(keys & self.old)[:3]}")
        if self.drop == "acked" and keys:
            raise Violation("churn: rows after an acked drop")
        if keys - self.sent:
            raise Violation("churn: rows never sent")
        if keys & self.refused:
            raise Violation("churn: a refused put is there")
        if self.drop == "in doubt":
            if table is None:
                self.drop = "acked"  # it happened
                return
            self.drop = None
        if self.drop != "acked" and self.acked - keys:
            raise Violation(f"churn: {len(self.acked - keys)} acked rows lost")
        self.acked |= keys  # rows in doubt that made it are durable now
        if table is not None and len(present):
            if table.column("vector").type.list_size != self.dim():
                raise Violation("churn: the vectors have another generation's width")


# -- the server ----------------------------------------------------------------------------

class RecoveryKill(ServerProcess):
    """A start that is SIGKILLed `delay` seconds after the process was spawned, ready or not."""

    def __init__(self, workdir, args, delay):
        super().__init__(workdir, args)
        self.delay = delay

    def _wait_ready(self):
        time.sleep(self.delay)


def check_main(client, name: str, ledger: Ledger, with_ids: bool):
    try:
        table = scan(client, name)
    except KeyError:  # never created, or its creating put was refused or in doubt
        table = batch_for(np.zeros(0, np.int64), True)
    keys = table.column("key").to_numpy()
    present = set(keys.tolist())
    if len(present) != len(keys):
        raise Violation(f"{name}: duplicated rows")
    lost = ledger.acked - ledger.deleted - ledger.delete_in_doubt - present
    if lost:
        raise Violation(f"{name}: {len(lost)} acked rows lost (or a refused delete applied), "
                        f"e.g. {sorted(lost)[:5]}")
    if present - ledger.sent:
        raise Violation(f"{name}: rows never sent")
    if present & ledger.deleted:
        raise Violation(f"{name}: acked deletes undone, e.g. {sorted(present & ledger.deleted)[:5]}")
    if present & ledger.refused:
        raise Violation(f"{name}: refused puts visible, e.g. {sorted(present & ledger.refused)[:5]}")
    expected = (keys[:, None] * 0.001 + np.arange(MAIN_DIM)[None, :]).astype(np.float32)
    if not np.array_equal(vectors_of(table.column("vector")), expected):
        raise Violation(f"{name}: a row's vector differs from the one sent")
    ids = table.column("id").to_numpy() if table.num_rows else keys
    if with_ids and not np.array_equal(ids, keys):
        raise Violation(f"{name}: a row's id differs from the one sent")
    if not with_ids and len(set(ids.tolist())) != len(ids):
        raise Violation(f"{name}: assigned ids repeat")
    # What was in doubt is settled now: puts that made it and deletes that did are durable.
    ledger.acked |= present
    ledger.deleted |= ledger.delete_in_doubt - present
    ledger.delete_in_doubt = set()
    return len(present)


class Campaign:
    def __init__(self, options):
        self.options = options
        self.rng = random.Random(options.seed)
        self.root = Path(options.workdir or tempfile.mkdtemp(prefix="arbalest_campaign_"))
        self.counts = Counter()
        self.violations: list[str] = []
        self.failed_restarts: list[str] = []
        self.unclear: list[str] = []
        self.epoch = -1
        self.servers: list[ServerProcess] = []  # started in this round
        self.new_epoch()

    def new_epoch(self):
        if self.epoch >= 0 and not self.options.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.epoch += 1
        self.workdir = self.root / f"epoch{self.epoch}"
        self.ledgers = {"with_ids": Ledger(), "assigned": Ledger()}
        self.churn = ChurnState()
        self.next_key = 0

    def keys(self):
        self.next_key += 10_000_000
        return KeySource(self.next_key)

    def start(self, env=None) -> ServerProcess | None:
        """A start with no faults armed (`env` may load the library, unarmed); None, recorded
        as a failed restart, when it does not serve."""
        srv = ServerProcess(self.workdir, SERVER_ARGS, env)
        self.servers.append(srv)
        try:
            srv.start(attempts=3)
        except RuntimeError as error:
            text = str(error)
            self.failed_restarts.append(f"epoch {self.epoch}: {text[:300]} ... {text[-1500:]}")
            return None
        self.counts["restarts"] += 1
        return srv

    def check(self, srv) -> bool:
        client = srv.connect()
        try:
            for name, ledger in self.ledgers.items():
                self.counts["acked rows checked"] += check_main(client, name, ledger,
                                                                name == "with_ids")
            self.churn.check(client)
            return True
        except Violation as violation:
            self.violations.append(f"epoch {self.epoch}: {violation}")
            return False

    def kill(self, srv):
        srv.proc.kill()
        srv.proc.wait(10)
        srv._close_clients()
        self.counts["kills"] += 1

    def run_round(self, scenario: str):
        if scenario == "faulty-start":
            self.faulty_start()
            return
        faults = self.fault_plan() if scenario == "faults" else None
        srv = self.start(faults.env() if faults else None)  # the library loaded, unarmed
        if srv is None:
            self.new_epoch()
            return
        if not self.check(srv):
            self.kill(srv)
            self.new_epoch()
            return
        if faults:
            faults.arm()
        stderr_lines = len(srv.stderr().splitlines())
        threads = [Putter(srv.port, "with_ids", self.ledgers["with_ids"], True, self.keys(),
                          self.rng),
                   Putter(srv.port, "assigned", self.ledgers["assigned"], False, self.keys(),
                          self.rng),
                   Deleter(srv.port, "with_ids", self.ledgers["with_ids"], self.rng)]
        # Kill soon after a call started (to land inside it) or after one finished.
        wait_for = []
        for kind, body, scenarios in (("snapshot", None, ("snapshot", "faults", "churn")),
                                      ("compact", {"dataset": "with_ids"},
                                       ("compaction", "faults"))):
            if scenario != scenarios[0] and not (scenario in scenarios and self.rng.random() < 0.5):
                continue
            caller = Caller(srv.port, kind, body, self.rng.uniform(0.0, 0.3), self.counts)
            threads.append(caller)
            wait_for.append(caller.started if self.rng.random() < 0.5 else caller.first_done)
        if scenario == "churn" or self.rng.random() < 0.33:
            threads.append(Churn(srv.port, self.churn, self.keys(), self.rng, self.counts))
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        for event in wait_for:
            event.wait(max(0.0, deadline - time.monotonic()))
        time.sleep(self.rng.uniform(0.0, 0.15) if wait_for else self.rng.uniform(0.05, 1.2))
        self.kill(srv)
        for thread in threads:
            if isinstance(thread, Caller) and thread.busy:
                self.counts[f"kills during a {thread.kind} call"] += 1
        if faults:
            faults.disarm()
            self.counts["faults injected"] += sum(
                1 for line in srv.stderr().splitlines()[stderr_lines:]
                if line.startswith("io_faults: "))
        for thread in threads:
            thread.join(30)
            if thread.is_alive():
                self.violations.append(f"epoch {self.epoch}: a client hung after the kill")
        self.collect_errors()
        if scenario == "recovery":
            delay = self.rng.uniform(0.0, 0.6)
            second = RecoveryKill(self.workdir, SERVER_ARGS, delay)
            second.start(attempts=1)
            if second.proc.poll() is None:
                self.kill(second)
                self.counts["kills during recovery"] += 1
            elif second.proc.returncode != 0:
                self.failed_restarts.append(
                    f"epoch {self.epoch}: exited {second.proc.returncode} during recovery\n"
                    f"{second.stderr_tail(2000)}")

    def faulty_start(self):
        faults = self.fault_plan(probability=0.3)
        faults.arm()
        srv = ServerProcess(self.workdir, SERVER_ARGS, faults.env())
        try:
            srv.start(attempts=1)
            self.kill(srv)
            self.counts["faulty starts that served"] += 1
        except RuntimeError:
            code = srv.proc.returncode
            if code != 1:
                self.failed_restarts.append(
                    f"epoch {self.epoch}: a start under faults exited {code}, not 1\n"
                    f"{srv.stderr_tail(2000)}")
            else:
                self.counts["faulty starts that exited 1"] += 1
        finally:
            faults.disarm()

    def fault_plan(self, probability=None) -> IoFaults:
        # The WAL writes with pwrite (direct I/O, the default); snapshots with write and
        # fwrite; writev is the WAL's call under --wal-direct-io false.
        ops = self.rng.choice(["all", "pwrite", "fdatasync", "pwrite,fdatasync", "open",
                               "write,fwrite", "fsync,rename", "rename", "writev"])
        errno = self.rng.choice(["ENOSPC", "ENOSPC", "EIO", "EMFILE"])
        probability = probability or self.rng.choice([0.01, 0.03, 0.1, 0.3])
        self.counts[f"fault plans {errno}"] += 1
        return IoFaults(self.workdir, ops=ops, path=str(self.workdir / "data") + "/",
                        errno=errno, probability=probability, seed=self.rng.randrange(1 << 30),
                        short=self.rng.random() < 0.3)

    def collect_errors(self):
        for ledger in self.ledgers.values():
            for error in ledger.errors:
                self.counts["requests refused"] += 1
                if not any(phrase in error for phrase in CLEAR_REFUSALS):
                    self.unclear.append(error)
            ledger.errors.clear()

    def run(self):
        start = time.monotonic()
        chosen = self.options.scenarios.split(",") if self.options.scenarios else list(SCENARIOS)
        names, weights = zip(*((name, SCENARIOS[name]) for name in chosen))
        rounds = 0
        while self.counts["kills"] < self.options.kills:
            if rounds and rounds % self.options.epoch == 0:
                self.final_check()
                self.new_epoch()
            scenario = self.rng.choices(names, weights)[0]
            self.counts[f"rounds: {scenario}"] += 1
            self.servers = []
            try:
                self.run_round(scenario)
            except Exception as error:  # noqa: BLE001 - a campaign bug must not end the run
                self.violations.append(f"epoch {self.epoch}: the campaign itself failed in a "
                                       f"{scenario} round: {type(error).__name__}: {error}")
                for srv in self.servers:
                    with contextlib.suppress(Exception):
                        srv._kill()
                self.new_epoch()
            rounds += 1
            if self.options.verbose:
                print(f"[{time.monotonic() - start:7.1f} s] round {rounds} {scenario}: "
                      f"{self.counts['kills']} kills, {len(self.violations)} violations, "
                      f"{len(self.failed_restarts)} failed restarts", flush=True)
        self.final_check()
        return time.monotonic() - start

    def final_check(self):
        srv = self.start()
        if srv is not None:
            self.check(srv)
            if srv.stop() != 0:
                self.failed_restarts.append(f"epoch {self.epoch}: SIGTERM did not exit 0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=300, help="SIGKILL points (default 300)")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--epoch", type=int, default=25,
                        help="rounds per data directory (default 25)")
    parser.add_argument("--workdir", help="where the data directories go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--verbose", action="store_true", help="one line per round")
    parser.add_argument("--scenarios", help="comma-separated scenarios to draw from (default: "
                        "all, weighted: " + ", ".join(f"{k} {v}" for k, v in SCENARIOS.items()) + ")")
    options = parser.parse_args()
    campaign = Campaign(options)
    seconds = campaign.run()
    counts = campaign.counts
    print(f"crash campaign: {counts['kills']} SIGKILL points in {seconds / 60:.1f} min "
          f"(seed {options.seed}, {campaign.epoch + 1} data directories)")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    lost = [v for v in campaign.violations if "lost" in v]
    print(f"  acked rows lost: {'0' if not lost else len(lost)} (violations of any kind: "
          f"{len(campaign.violations)})")
    print(f"  failed restarts: {len(campaign.failed_restarts)}")
    print(f"  refusals without a clear cause: {len(campaign.unclear)}")
    for line in campaign.violations + campaign.failed_restarts + campaign.unclear[:10]:
        print(f"  ! {line}")
    print("command: " + shlex.join([".venv/bin/python", "scripts/crash_campaign.py"] +
                                  sys.argv[1:]))
    if not options.keep and not options.workdir:
        shutil.rmtree(campaign.root, ignore_errors=True)
    return 1 if campaign.violations or campaign.failed_restarts or campaign.unclear else 0


if __name__ == "__main__":
    sys.exit(main())
