"""deploy/: the Prometheus alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), the Grafana dashboard is what deploy/grafana/dashboard.py writes, and
every metric the rules and the dashboard name is one a real server exports."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.flight as flight

from arbalest_util import action, make_table, put_table, scrape, unique_name

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series Prometheus makes itself rather than scraping them.
PROMETHEUS_OWN = {"up"}
METRIC = re.compile(r"\b((?:arbalest|process)_[a-z0-9_]+|up)\b")


def promtool(*args) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing (Debian package prometheus; scripts/bootstrap.sh installs it)"
    return subprocess.run([tool, *args], cwd=DEPLOY / "prometheus", capture_output=True,
                          text=True, timeout=60)


def test_alert_rules_are_valid_and_fire_when_they_should():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout, checked.stdout
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def load_dashboard_module():
    spec = importlib.util.spec_from_file_location("dashboard", DEPLOY / "grafana" / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dashboard_json_is_the_generator_output():
    committed = (DEPLOY / "grafana" / "arbalest.json").read_text()
    assert committed == load_dashboard_module().render(), \
        "deploy/grafana/arbalest.json is stale: run python3 deploy/grafana/dashboard.py"
    panels = json.loads(committed)["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(t["expr"] for p in panels for t in p["targets"])


def named_metrics() -> dict[str, set[str]]:
    """Metric names each deploy file mentions, by file."""
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    rule_exprs = "\n".join(re.findall(r"expr:\s*\|?\s*\n?((?:.*\n)+?)\s*(?:for|labels):", rules))
    dashboard = json.loads((DEPLOY / "grafana" / "arbalest.json").read_text())
    dashboard_exprs = "\n".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    return {"alerts.yml": set(METRIC.findall(rule_exprs)),
            "arbalest.json": set(METRIC.findall(dashboard_exprs))}


def test_every_metric_the_rules_and_dashboard_name_is_exported(start_server):
    named = named_metrics()
    assert len(named["alerts.yml"]) >= 8 and len(named["arbalest.json"]) >= 15, named
    srv = start_server()
    ds = unique_name("deploy")
    put_table(srv.data, ds, make_table(500, d=8))
    action(srv.data, "check_readiness", {"dataset": ds, "wait": 60})
    action(srv.data, "snapshot", {})
    query = {"search": {"dataset": ds, "vector": [0.0] * 8, "k": 3}}
    srv.data.do_get(flight.Ticket(json.dumps(query).encode())).read_all()
    exported = {name for name, _ in scrape(srv)}
    for source, names in named.items():
        missing = sorted(names - exported - PROMETHEUS_OWN)
        assert not missing, f"{source} names metrics the server does not export: {missing}"
