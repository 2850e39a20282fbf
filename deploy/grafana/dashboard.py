"""Writes arbalest.json, the Grafana dashboard for Arbalest servers (Grafana 9 or later, a
Prometheus data source). Edit the panels here and run `python3 deploy/grafana/dashboard.py`;
a test checks that the committed JSON is this script's output and that every metric it
names is one the server exports."""

from __future__ import annotations

import json
from pathlib import Path

INSTANCE = 'instance=~"$instance"'
RATE = "$__rate_interval"


def rate(metric: str, by: str = "instance", labels: str = "") -> str:
    selector = f"{INSTANCE}{',' + labels if labels else ''}"
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{RATE}]))"


def quantile(q: float, histogram: str, by: str = "instance") -> str:
    return (f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({histogram}_bucket{{{INSTANCE}}}[{RATE}])))")


def gauge(metric: str) -> str:
    return f"{metric}{{{INSTANCE}}}"


# (title, unit, [(expression, legend)], description)
PANELS = [
    ("Ingest: rows acked", "rows/s",
     [(rate("arbalest_ingested_rows_total"), "{{instance}}")],
     "Rows acked per second (durable under the --fsync policy)."),
    ("Ingest: bytes acked", "Bps",
     [(rate("arbalest_ingested_bytes_total"), "{{instance}}")],
     "Arrow bytes acked per second."),
    ("Search: queries", "reqps",
     [(rate("arbalest_search_duration_seconds_count"), "{{instance}}")],
     "k-NN queries answered per second (each query of a batched search counts)."),
    ("Search: latency", "s",
     [(quantile(0.5, "arbalest_search_duration_seconds"), "p50 {{instance}}"),
      (quantile(0.99, "arbalest_search_duration_seconds"), "p99 {{instance}}")],
     "Time inside the server for one k-NN query."),
    ("RPCs by method and code", "reqps",
     [(rate("arbalest_rpc_total", "method, grpc_code"), "{{method}} {{grpc_code}}")],
     "Finished Flight calls by method and the gRPC code the client received."),
    ("Refused requests", "reqps",
     [(rate("arbalest_rpc_total", "method, action, grpc_code", 'grpc_code!="OK"'),
       "{{method}} {{action}} {{grpc_code}}")],
     "Calls that did not end OK. Unavailable: a resource is exhausted (memory, disk, file "
     "descriptors), retry later; InvalidArgument/NotFound: the client's request."),
    ("Actions: latency p99", "s",
     [(quantile(0.99, "arbalest_rpc_duration_seconds", "action"), "{{action}}")],
     "DoAction latency by action (check_readiness long-polls: its latency is its wait)."),
    ("WAL: fsync latency", "s",
     [(quantile(0.5, "arbalest_wal_fsync_duration_seconds"), "p50 {{instance}}"),
      (quantile(0.99, "arbalest_wal_fsync_duration_seconds"), "p99 {{instance}}")],
     "fdatasync of the write-ahead log; every acked put waits for one under --fsync always."),
    ("WAL: bytes written", "Bps",
     [(rate("arbalest_wal_bytes_total"), "{{instance}}")],
     "Bytes appended to the write-ahead log per second."),
    ("Memory: charged vs --max-memory", "bytes",
     [(gauge("arbalest_memory_used_bytes"), "charged {{instance}}"),
      (gauge("arbalest_memory_limit_bytes"), "limit {{instance}}"),
      (gauge("process_resident_memory_bytes"), "RSS {{instance}}")],
     "Bytes charged to the memory budget, the limit (0 = unlimited) and the process's RSS."),
    ("Index lag by dataset", "short",
     [(gauge("arbalest_dataset_index_lag_rows"), "{{dataset}}")],
     "Rows acked but not in the vector index yet (searched exactly meanwhile)."),
    ("Rows by dataset", "short",
     [(gauge("arbalest_dataset_rows"), "{{dataset}}")],
     "Live rows per dataset (the largest --metrics-datasets; the rest under _other)."),
    ("Deleted rows by dataset", "short",
     [(gauge("arbalest_dataset_deleted_rows"), "{{dataset}}")],
     "Deleted rows still stored until a compaction reclaims them."),
    ("Snapshots", "short",
     [(rate("arbalest_snapshots_total"), "written/s {{instance}}"),
      (rate("arbalest_snapshot_failures_total"), "failed/s {{instance}}")],
     "Dataset snapshots made durable and failed."),
    ("Time since the last snapshot", "s",
     [(f"time() - arbalest_snapshot_last_success_timestamp_seconds{{{INSTANCE}}} "
       f"and arbalest_snapshot_last_success_timestamp_seconds{{{INSTANCE}}} > 0",
       "{{instance}}")],
     "Restarts replay the WAL written since."),
    ("File descriptors", "short",
     [(gauge("process_open_fds"), "open {{instance}}"),
      (gauge("process_max_fds"), "limit {{instance}}")],
     "Open descriptors against the limit; --fd-reserve of them are kept for the WAL."),
]


def panel(index: int, title: str, unit: str, targets, description: str) -> dict:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": (index // 3) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi"}},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (expr, legend) in enumerate(targets)],
    }


def dashboard() -> dict:
    return {
        "title": "Arbalest",
        "uid": "arbalest",
        "tags": ["arbalest", "vector-database"],
        "timezone": "",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus",
             "label": "Data source"},
            {"name": "instance", "type": "query", "label": "Instance",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(arbalest_build_info, instance)",
                       "refId": "instances"},
             "includeAll": True, "multi": True, "refresh": 2},
        ]},
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    (Path(__file__).parent / "arbalest.json").write_text(render())
