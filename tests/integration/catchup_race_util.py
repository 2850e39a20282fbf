"""The scaffolding of catch-up races with real processes: three nodes of one cluster holding one
shard with R=2, the shard's replica that is not its primary SIGKILLed so that the third node
copies the shard, and puts through a surviving node while that copy runs
(test_cluster_catchup_upserts.py, test_cluster_catchup_repeated_ids.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

from arbalest_util import ServerProcess, put_table, vector_array, wait_until
from test_cluster import DIM, MEMBERSHIP_DEADLINE_S
from test_cluster_catchup import members, shard_map, status

LEASE_TTL_S = 2
DEADLINE_S = MEMBERSHIP_DEADLINE_S + 120


def start_nodes(tmp_path, etcd, cluster: str, env: dict[str, str],
                extra_args: list[str] = ()) -> dict[str, ServerProcess]:
    """Nodes n0, n1, n2 of `cluster` with 1 shard per dataset, each listing all three."""
    nodes = {}
    for node_id in ("n0", "n1", "n2"):
        nodes[node_id] = ServerProcess(tmp_path / node_id, env=env, extra_args=[
            "--cluster-etcd", etcd.url, "--cluster-name", cluster, "--node-id", node_id,
            "--cluster-lease-ttl", str(LEASE_TTL_S), "--cluster-search-timeout", "10s",
            "--cluster-shards", "1", *extra_args]).start()
    for node in nodes.values():
        wait_until(lambda: members(node), lambda m: len(m) == 3, "every member listed",
                   timeout=MEMBERSHIP_DEADLINE_S)
    return nodes


@dataclass
class Roles:
    primary: str  # the shard's primary
    victim: str   # its other replica, SIGKILLed
    router: str   # a surviving node that puts go through
    joining: str  # the node that copies the shard


def roles_of(nodes: dict[str, ServerProcess], name: str) -> Roles:
    placement = shard_map(nodes["n0"], name)["placement"][0]
    primary = placement["primary"]
    victim = next(r for r in placement["replicas"] if r != primary)
    return Roles(primary=primary, victim=victim,
                 router=next(n for n in nodes if n != victim),
                 joining=next(n for n in nodes if n not in placement["replicas"]))


def kill_until_copying(nodes: dict[str, ServerProcess], name: str, roles: Roles) -> None:
    """SIGKILLs the victim and waits until the joining node's catch-up of `name` started."""
    nodes[roles.victim].proc.kill()
    wait_until(lambda: status(nodes[roles.joining]).get("catchup", {}).get("shards", []),
               lambda states: any(s["dataset"] == name and s["state"] == "copying"
                                  for s in states),
               "the joining replica's catch-up under way", timeout=DEADLINE_S)


def with_vectors(table: pa.Table, value: float) -> pa.Table:
    """`table` with every vector's elements `value`."""
    vectors = np.full((table.num_rows, DIM), value, dtype=np.float32)
    index = table.schema.get_field_index("vector")
    return table.set_column(index, "vector", vector_array(vectors))


def put_slices(node: ServerProcess, name: str, table: pa.Table, batch: int) -> int:
    """Puts `table` in slices of `batch` rows, each its own put; the rows acked. A put refused
    while the shard map changes is left out (its rows are not checked)."""
    acked = 0
    for start in range(0, table.num_rows, batch):
        part = table.slice(start, batch)
        try:
            put_table(node.data, name, part)
            acked += part.num_rows
        except (flight.FlightError, pa.ArrowException):
            pass
    return acked


def wait_caught_up(node: ServerProcess, name: str) -> dict:
    """The catch-up record of `name` on `node` once it caught up."""
    done = wait_until(
        lambda: [s for s in status(node)["catchup"]["shards"] if s["dataset"] == name],
        lambda states: any(s["state"] == "caught_up" for s in states),
        "the joining replica caught up", timeout=DEADLINE_S)
    caught_up = next(s for s in done if s["state"] == "caught_up")
    print(f"catch-up: {caught_up}")
    return caught_up


def put_during_catchup(nodes: dict[str, ServerProcess], name: str, again: pa.Table,
                       batch: int) -> tuple[Roles, int, dict]:
    """SIGKILLs the victim, puts `again` through a surviving node in slices of `batch` rows
    once the joining node's catch-up started, and waits until it caught up: the roles, the rows
    acked (at least half of them) and the catch-up's record."""
    roles = roles_of(nodes, name)
    kill_until_copying(nodes, name, roles)
    acked = put_slices(nodes[roles.router], name, again, batch)
    assert acked >= again.num_rows // 2, acked
    return roles, acked, wait_caught_up(nodes[roles.joining], name)
