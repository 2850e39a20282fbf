"""What TLS, mutual TLS and the cluster token cost a global search: a 2-node cluster on this
machine (a real etcd), searched through node 0 with and without security.

For each setup, --rows random float32 rows of --dim dimensions in equal parts on the two nodes,
both READY; then --queries DoGet search tickets (k 10, default ef) through node 0 from 1 and 4
client threads (QPS, p50, p99), fanned out and local_only. "secure": every node serves TLS
with --tls-client-ca (mutual TLS: the hop presents the node's certificate) and --auth-tokens
with --cluster-token-file; the benchmark's client speaks TLS with a read token. The difference
between the fanned-out and local_only figures of a setup is the hop's cost in it.

    .venv/bin/python bench/cluster/cluster_security_bench.py [--rows 20000] [--dim 128]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.flight as flight

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from arbalest_util import make_table  # noqa: E402
from cluster_search_bench import DATASET, arguments, run_queries, stop_all  # noqa: E402
from etcd_util import EtcdProcess  # noqa: E402
from test_security import SecureServer, bearer, make_ca, make_cert, new_token  # noqa: E402


def start(workdir: Path, secure: bool, rows: int, dim: int):
    etcd = EtcdProcess(workdir).start()
    certs = workdir / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_cert(certs, "node", "ca")
    admin, admin_line = new_token("admin", id="admin-1")
    read, read_line = new_token("read", id="read-1")
    node_token, node_line = new_token("cluster", id="nodes")
    (workdir / "tokens").write_text(f"{admin_line}\n{read_line}\n{node_line}\n")
    (workdir / "cluster-token").write_text(node_token + "\n")
    args = ["--log-level", "warn", "--cluster-etcd", etcd.url, "--cluster-name", "bench"]
    if secure:
        args += ["--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node.key"),
                 "--tls-client-ca", str(certs / "ca.pem"), "--auth-tokens",
                 str(workdir / "tokens"), "--cluster-token-file", str(workdir / "cluster-token")]
    tls = {"tls_root_certs": (certs / "ca.pem").read_bytes(),
           "cert_chain": (certs / "node.pem").read_bytes(),
           "private_key": (certs / "node.key").read_bytes()} if secure else {}
    nodes = [SecureServer(workdir / f"node{i}", args, tls_root=tls.get("tls_root_certs"),
                          probe_token=admin) for i in range(2)]
    for node in nodes:
        if secure:
            plain = node.connect
            node.connect = lambda port=None, plain=plain: plain(port, **tls)
        node.start()
    options = bearer(read) if secure else None
    for i, node in enumerate(nodes):
        table = make_table(rows // 2, d=dim, start_id=i * rows, extra=False,
                           rng=np.random.default_rng(10 + i))
        writer, _ = node.data.do_put(flight.FlightDescriptor.for_path(DATASET), table.schema,
                                     options=bearer(admin))
        writer.write_table(table)
        writer.close()
    ready = json.dumps({"dataset": DATASET, "wait": 600}).encode()
    admin_headers = flight.FlightCallOptions(
        headers=[(b"authorization", b"Bearer " + admin.encode())])
    for node in nodes:  # every row indexed
        list(node.data.do_action(flight.Action("check_readiness", ready), options=admin_headers))
    scheme = "grpc+tls" if secure else "grpc"
    return etcd, nodes, options, lambda port: flight.connect(f"{scheme}://127.0.0.1:{port}", **tls)


def main() -> None:
    args, queries = arguments(__doc__, 20_000, "cluster_security_bench.py", "2 nodes, ")
    with tempfile.TemporaryDirectory() as tmp:
        for secure in (False, True):
            workdir = Path(tmp) / ("secure" if secure else "plain")
            workdir.mkdir()
            etcd, nodes, options, connect = start(workdir, secure, args.rows, args.dim)
            try:
                for local_only in (False, True):
                    for threads in (1, 4):
                        f = run_queries(nodes[0].port, queries, threads, local_only, connect,
                                        options)
                        label = f"{'secure' if secure else 'plain'}" + \
                            (", local_only" if local_only else ", fanned out")
                        print(f"{label:24s} clients {threads}: {f['qps']:7.0f} QPS  "
                              f"p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms", flush=True)
            finally:
                stop_all(nodes, etcd)


if __name__ == "__main__":
    main()
