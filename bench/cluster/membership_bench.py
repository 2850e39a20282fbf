"""How fast membership follows failures, on this machine: a real etcd and three nodes with a
--cluster-lease-ttl of 2 s. Prints how long after a member's SIGKILL it is gone from another
node's member list (twice), how long after etcd's SIGKILL a node reports the cluster degraded,
and whether it is healthy again by the time a restarted etcd answers /health (else how long
after). Observed through cluster-status every 20 ms.

    .venv/bin/python bench/cluster/membership_bench.py
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import ServerProcess, action  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402

TTL_S = 2


def status(node: ServerProcess) -> dict:
    return action(node.data, "cluster-status")[0]


def seconds_until(condition) -> float:
    start = time.monotonic()
    while not condition():
        time.sleep(0.02)
    return time.monotonic() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        etcd = EtcdProcess(workdir).start()
        args = ["--cluster-etcd", etcd.url, "--cluster-name", "bench", "--cluster-lease-ttl",
                str(TTL_S), "--log-level", "warn"]
        nodes = [ServerProcess(workdir / f"node{i}", extra_args=args).start() for i in range(3)]
        try:
            seconds_until(lambda: len(status(nodes[0])["members"]) == 3)
            for trial in range(2):
                victim = nodes.pop()
                victim.proc.kill()
                gone = seconds_until(lambda: len(status(nodes[0])["members"]) == len(nodes))
                print(f"SIGKILLed member gone from the member list after {gone:.2f} s "
                      f"(lease TTL {TTL_S} s)", flush=True)
                if trial == 0:
                    nodes.append(ServerProcess(workdir / "node3", extra_args=args).start())
                    seconds_until(lambda: len(status(nodes[0])["members"]) == 3)
            etcd.kill()
            degraded = seconds_until(lambda: status(nodes[0])["degraded"])
            print(f"cluster reported degraded {degraded:.2f} s after etcd's SIGKILL", flush=True)
            etcd.start()  # returns once /health answers
            healthy = seconds_until(lambda: not status(nodes[0])["degraded"])
            print(f"healthy again {healthy:.2f} s after the restarted etcd answered /health")
        finally:
            for node in nodes:
                node.stop(signal.SIGTERM)
            etcd.kill()


if __name__ == "__main__":
    main()
