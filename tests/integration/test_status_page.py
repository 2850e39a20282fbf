"""The status page of the metrics port (/ and /api/status): the JSON agrees with the `stats`
action, and the page itself, opened in headless Chromium against a server under a light put and
search load, shows the same figures per dataset, draws its charts and logs no JavaScript error.
A screenshot of the page is kept as a CI artifact: build/artifacts/status_page.png (or under
$ARBALEST_ARTIFACTS), and in the test's tmp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.flight as flight
import pytest

from arbalest_util import (REPO_ROOT, action, http_get, make_table, put_table, unique_name,
                           wait_until)
from test_cluster import Cluster, cluster_status, wait_for_members
from test_cluster import node_id as cluster_node_id

CHROMIUM_TIMEOUT_S = 90


def stats(client, name) -> dict:
    [result] = action(client, "stats", {"dataset": name})
    return result


def status(srv) -> dict:
    code, content_type, body = http_get(srv.metrics_port, "/api/status")
    assert code == 200 and content_type == "application/json", (code, content_type)
    return json.loads(body)


class Load:
    """Puts small batches into one dataset and runs searches against another, until stopped."""

    def __init__(self, srv, put_dataset: str, search_dataset: str, d: int):
        self.client = srv.connect(srv.port)
        self.put_dataset, self.search_dataset, self.d = put_dataset, search_dataset, d
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        next_id = 0
        query = json.dumps({"search": {"dataset": self.search_dataset,
                                       "vector": [0.1] * self.d, "k": 5}}).encode()
        try:
            while not self.stop_event.is_set():
                put_table(self.client, self.put_dataset,
                          make_table(100, d=self.d, start_id=next_id))
                next_id += 100
                for _ in range(5):
                    self.client.do_get(flight.Ticket(query)).read_all()
                self.stop_event.wait(0.05)
        except BaseException as e:  # surfaced by stop()
            self.errors.append(e)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=30)
        self.client.close()
        assert not self.errors, self.errors


@pytest.fixture
def loaded_server(start_server):
    """A server with two quiet datasets (one cosine with deleted rows, one euclidean) indexed,
    and the name of a third that Load puts into."""
    srv = start_server()
    quiet_cosine, quiet_l2, busy = (unique_name(p) for p in ("cosine", "euclid", "busy"))
    cosine = make_table(1200, d=16).replace_schema_metadata({"longbow.metric": "cosine"})
    put_table(srv.data, quiet_cosine, cosine, batch_size=400)
    put_table(srv.data, quiet_l2, make_table(900, d=32), batch_size=300)
    [deleted] = action(srv.data, "delete", {"dataset": quiet_cosine, "ids": list(range(0, 150))})
    assert deleted["deleted"] == 150
    for ds in (quiet_cosine, quiet_l2):
        [ready] = action(srv.data, "check_readiness", {"dataset": ds, "wait": 60})
        assert ready["status"] == "READY", ready
    return srv, (quiet_cosine, quiet_l2), busy


def test_api_status_agrees_with_stats(loaded_server):
    srv, quiet, _ = loaded_server
    document = status(srv)
    shown = {d["name"]: d for d in document["datasets"]}
    assert set(shown) == set(quiet)
    for name in quiet:
        want = stats(srv.data, name)
        got = shown[name]
        assert got["rows"] == want["rows"]
        assert got["deleted_rows"] == want["deleted_rows"]
        assert got["dim"] == want["dim"]
        assert got["metric"] == want["index"]["metric"]
        assert got["vector_type"] == want["vector_type"]
        assert got["bytes"] == want["bytes"]
        assert got["indexed_rows"] == want["indexed_rows"]
        assert got["index_ready"] is True and got["index_lag_rows"] == 0
    assert shown[quiet[0]]["metric"] == "cosine" and shown[quiet[0]]["deleted_rows"] == 150
    assert document["totals"]["rows"] == sum(shown[n]["rows"] for n in quiet)
    assert document["ingest"]["rows"] == 1200 + 900
    assert document["memory"]["limit_bytes"] == 0
    assert document["wal_fsync_latency"]["count"] >= 1
    assert document["search_latency"]["upper_bounds_seconds"][-1] is None  # +Inf
    # The page and its bundle are served from the binary.
    code, content_type, body = http_get(srv.metrics_port, "/")
    assert code == 200 and content_type.startswith("text/html") and "status.js" in body
    code, content_type, body = http_get(srv.metrics_port, "/status.js")
    assert code == 200 and content_type.startswith("text/javascript") and len(body) > 10000
    code, content_type, _ = http_get(srv.metrics_port, "/status.css")
    assert code == 200 and content_type.startswith("text/css")
    assert http_get(srv.metrics_port, "/nothing-here")[0] == 404


# -- the page in headless Chromium ---------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise AssertionError("chromium is missing (Debian package chromium; scripts/bootstrap.sh "
                         "installs it)")


def run_chromium(url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `url` for a few seconds of (virtual) time; console messages and
    page errors go to stderr (--enable-logging=stderr)."""
    args = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking",
            f"--user-data-dir={workdir / 'chromium-profile'}", "--window-size=1400,1400",
            "--virtual-time-budget=8000", "--enable-logging=stderr", "--v=0", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S,
                          env={**os.environ, "HOME": str(workdir)})


def console_lines(stderr: str) -> list[str]:
    """The page's console output and uncaught errors as Chromium logs them."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class DatasetTable(HTMLParser):
    """{dataset: {field: text}} from the rows of #datasets (tr[data-dataset] > td[data-field]),
    {node id: {field: text}} from the rows of #members (tr[data-node]; "href" of a cell's link
    as field + "_href", "class" of the row as "row_class"), whether #cluster is hidden, and the
    text of #js-errors, #state, #cluster-state, #cluster-facts and #cluster-degraded (None
    while hidden)."""

    TEXTS = {"js-errors": "errors", "state": "state", "cluster-state": "cluster_state",
             "cluster-facts": "cluster_facts", "cluster-degraded": "cluster_degraded"}

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.members: dict[str, dict[str, str]] = {}
        self.row = self.field = None
        self.errors = self.state = self.cluster_state = self.cluster_facts = ""
        self.cluster_degraded = None
        self.cluster_hidden = None
        self.state_polls = 0
        self.in_text = None  # (attribute, closing tag) of the text being read
        self.charts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-dataset" in attrs:
            self.row = self.rows.setdefault(attrs["data-dataset"], {})
        elif tag == "tr" and "data-node" in attrs:
            self.row = self.members.setdefault(attrs["data-node"], {})
            self.row["row_class"] = attrs.get("class") or ""
        elif tag == "td" and self.row is not None and "data-field" in attrs:
            self.field = attrs["data-field"]
            self.row[self.field] = ""
        elif tag == "a" and self.field is not None:
            self.row[self.field + "_href"] = attrs.get("href")
        elif attrs.get("id") == "cluster":
            self.cluster_hidden = "hidden" in attrs
        elif attrs.get("id") in self.TEXTS:
            name = self.TEXTS[attrs["id"]]
            if name == "cluster_degraded" and "hidden" in attrs:
                return
            setattr(self, name, "")
            self.in_text = (name, tag)
            if attrs["id"] == "state":
                self.state_polls = int(attrs.get("data-polls", "0"))
        if "uplot" in (attrs.get("class") or "").split():
            self.charts += 1

    def handle_endtag(self, tag):
        if tag == "td":
            self.field = None
        elif tag == "tr":
            self.row = None
        if self.in_text and tag == self.in_text[1]:
            self.in_text = None

    def handle_data(self, data):
        if self.field is not None:
            self.row[self.field] += data
        if self.in_text:
            setattr(self, self.in_text[0], getattr(self, self.in_text[0]) + data)


def count(text: str) -> int:
    return int(text.replace(",", ""))


def artifacts_dir() -> Path:
    return Path(os.environ.get("ARBALEST_ARTIFACTS", REPO_ROOT / "build" / "artifacts"))


def parsed_page(dom: subprocess.CompletedProcess) -> DatasetTable:
    """The page Chromium dumped, checked for what every page must show: no JavaScript error
    (console or #js-errors), at least two polls answered, the four charts."""
    assert dom.returncode == 0, dom.stderr[-4000:]
    assert not console_lines(dom.stderr), "\n".join(console_lines(dom.stderr))
    page = DatasetTable()
    page.feed(dom.stdout)
    assert page.errors.strip() == "", page.errors
    assert page.state_polls >= 2, (page.state, dom.stdout[-3000:])
    assert page.state.startswith("updated"), page.state
    assert page.charts == 4, dom.stdout[-3000:]
    return page


def test_status_page_in_headless_chromium(loaded_server, tmp_path):
    srv, quiet, busy = loaded_server
    url = f"http://127.0.0.1:{srv.metrics_port}/?interval=500"
    with Load(srv, busy, quiet[1], d=32):
        wait_until(lambda: status(srv), lambda s: s["ingest"]["rows"] > 2100 + 300,
                   "the put load has not started")
        busy_before = stats(srv.data, busy)["rows"]
        dom = run_chromium(url, tmp_path, "--dump-dom")
        busy_after = stats(srv.data, busy)["rows"]
        screenshot = tmp_path / "status_page.png"
        shot = run_chromium(url, tmp_path, f"--screenshot={screenshot}", "--hide-scrollbars")

    page = parsed_page(dom)
    assert page.cluster_hidden is True and page.members == {}  # a single node
    assert set(page.rows) == {*quiet, busy}, page.rows
    for name in quiet:
        want, got = stats(srv.data, name), page.rows[name]
        assert count(got["rows"]) == want["rows"], (name, got, want)
        assert count(got["deleted_rows"]) == want["deleted_rows"], (name, got, want)
        assert count(got["dim"]) == want["dim"], (name, got, want)
        assert got["metric"] == want["index"]["metric"], (name, got, want)
        assert got["vector_type"].split()[0] == want["vector_type"], (name, got, want)
        assert got["index"] == "READY", (name, got)
    assert page.rows[quiet[0]]["deleted_rows"] == "150"
    assert busy_before <= count(page.rows[busy]["rows"]) <= busy_after, (
        busy_before, page.rows[busy], busy_after)
    assert count(page.rows[busy]["dim"]) == 32

    assert shot.returncode == 0, shot.stderr[-4000:]
    assert not console_lines(shot.stderr), "\n".join(console_lines(shot.stderr))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10000  # a page, not a blank image
    kept = artifacts_dir()
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, kept / "status_page.png")


# -- the cluster section -----------------------------------------------------------------------


def page_of(url: str, workdir: Path) -> DatasetTable:
    return parsed_page(run_chromium(url, workdir, "--dump-dom"))


def test_status_page_shows_the_cluster_and_its_degraded_state(tmp_path):
    c = Cluster(tmp_path, unique_name("page"))
    try:
        nodes = [c.add_node(0), c.add_node(1)]
        ids = {cluster_node_id(n): n for n in nodes}
        wait_for_members(nodes, set(ids), "both members listed")
        url = f"http://127.0.0.1:{nodes[0].metrics_port}/?interval=300"
        page = page_of(url, tmp_path)
        assert page.cluster_hidden is False
        assert page.cluster_state == "ok"
        assert page.cluster_degraded is None
        assert f"cluster {c.name}" in page.cluster_facts and "2 members" in page.cluster_facts
        assert f"lease TTL {c.lease_ttl_s} s" in page.cluster_facts
        assert set(page.members) == set(ids), page.members
        for member_id, node in ids.items():
            row = page.members[member_id]
            this = node is nodes[0]
            assert row["node_id"] == member_id + (" (this node)" if this else "")
            assert ("self" in row["row_class"].split()) == this
            assert row["flight"] == f"127.0.0.1:{node.port}"
            assert row["metrics"] == f"127.0.0.1:{node.metrics_port}"
            assert row["metrics_href"] == f"http://127.0.0.1:{node.metrics_port}/"
            assert row["state"] == "alive"
        screenshot = tmp_path / "status_page_cluster.png"
        shot = run_chromium(url, tmp_path, f"--screenshot={screenshot}", "--hide-scrollbars")
        assert shot.returncode == 0 and screenshot.stat().st_size > 10000, shot.stderr[-4000:]
        artifacts_dir().mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, artifacts_dir() / "status_page_cluster.png")
        # The link leads to the member's own status page.
        code, _, body = http_get(nodes[1].metrics_port, "/")
        assert code == 200 and "status.js" in body

        c.etcd.kill()
        wait_until(lambda: cluster_status(nodes[0]), lambda s: s["degraded"],
                   "node 0 to report the cluster degraded", timeout=30)
        page = page_of(url, tmp_path)
        assert page.cluster_state == "degraded"
        assert page.cluster_degraded is not None
        assert page.cluster_degraded.startswith("Degraded: etcd does not answer since")
        assert "serves with the member list it last saw" in page.cluster_degraded
        assert set(page.members) == set(ids)  # the members it last saw
    finally:
        c.stop()
