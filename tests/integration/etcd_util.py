"""A real etcd (Debian's etcd-server) for the cluster tests and benchmarks: one member on free
loopback ports with its own data dir, killed with SIGKILL and restarted on the same dir and
ports; optionally serving https and requiring client certificates (`tls`)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from arbalest_util import die_with_parent, free_ports, wait_until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdProcess:
    """A single-member etcd on free loopback ports, restartable on the same dir and ports."""

    def __init__(self, workdir: Path, tls: dict | None = None):
        """`tls`: {"ca", "cert", "key"} PEM paths: serve https with cert and key, and require
        client certificates signed by ca (etcd's --client-cert-auth)."""
        self.workdir = workdir
        self.data_dir = workdir / "etcd-data"
        self.client_port, self.peer_port = free_ports(2)
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.client_port}"
        self.proc = None

    def start(self) -> "EtcdProcess":
        if not Path(ETCD).exists():
            raise RuntimeError(f"etcd not found at {ETCD}: scripts/bootstrap.sh installs Debian's "
                               "etcd-server")
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [ETCD, "--name", "test", "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"test={peer}", "--log-level", "warn"]
        if self.tls:
            args += ["--cert-file", str(self.tls["cert"]), "--key-file", str(self.tls["key"]),
                     "--trusted-ca-file", str(self.tls["ca"]), "--client-cert-auth"]
        with open(self.workdir / "etcd.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent)
        wait_until(self._health, lambda ok: ok or self.proc.poll() is not None,
                   "etcd to answer /health", timeout=30)
        assert self.proc.poll() is None, (self.workdir / "etcd.log").read_text()[-3000:]
        return self

    def _health(self) -> bool:
        try:
            context = None
            if self.tls:
                context = ssl.create_default_context(cafile=str(self.tls["ca"]))
                context.load_cert_chain(str(self.tls["cert"]), str(self.tls["key"]))
            with urllib.request.urlopen(self.url + "/health", timeout=2,
                                        context=context) as reply:
                return json.loads(reply.read()).get("health") == "true"
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
