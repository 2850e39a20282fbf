#!/usr/bin/env bash
# Ingestion benchmark, side by side in one run: the same load against
#   - `arbalest serve --null-sink` (Flight decodes and acks, nothing stored: the ceiling), and
#   - a real server with the WAL at --fsync none, interval and the default always,
# for 384-d float32 and int8 vectors in 1k- and 10k-row batches. Prints one JSON line per run
# and a summary table: MB/s of vector bytes acked, and that as a fraction of the null-sink
# ceiling measured in the same run. For 10k-row batches at --fsync interval it also reports
# the seconds from the last ack until check_readiness says READY (every row indexed).
# Usage: bench/ingest/run.sh [build_dir] (default build/release).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
STREAMS=${STREAMS:-4}
TOTAL_ROWS=${TOTAL_ROWS:-200000}   # per run, across all streams
PORT=${PORT:-13900}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_server() {
  rm -rf "$WORK/data"
  "$BUILD/arbalest" serve --port "$PORT" --meta-port $((PORT + 1)) --metrics-port $((PORT + 2)) \
    --data-dir "$WORK/data" --log-level warn "$@" 2>>"$WORK/server.log" &
  SERVER=$!
  for _ in $(seq 50); do
    (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, streams=$STREAMS, rows per run=$TOTAL_ROWS"
echo "# command: bench/ingest/run.sh $BUILD (STREAMS=$STREAMS TOTAL_ROWS=$TOTAL_ROWS)"
printf "%-8s %-6s %-14s %10s %9s %10s %8s %8s %9s\n" type rows mode vector_MB/s ceiling rows/s \
  p50_ms p99_ms ready_s
for type in float32 int8; do
  for rows in 1000 10000; do
    batches=$((TOTAL_ROWS / STREAMS / rows))
    ceiling=0
    for mode in null-sink "fsync none" "fsync interval" "fsync always"; do
      case $mode in
        null-sink) start_server --null-sink ;;
        "fsync none") start_server --fsync none ;;
        "fsync interval") start_server --fsync interval ;;
        "fsync always") start_server --fsync always ;;
      esac
      line=$("$BUILD/bench/ingest_bench" --port "$PORT" --streams "$STREAMS" --batches "$batches" \
               --rows "$rows" --dim 384 --type "$type")
      ready=-
      if [[ $mode == "fsync interval" && $rows == 10000 ]]; then
        ready=$(.venv/bin/python -c '
import json, sys, time, pyarrow.flight as fl
client, start = fl.connect("grpc://127.0.0.1:" + sys.argv[1]), time.monotonic()
body = json.dumps({"wait": 600}).encode()
reply = json.loads(next(iter(client.do_action(fl.Action("check_readiness", body)))).body.to_pybytes())
print("%.1f" % (time.monotonic() - start) if reply["status"] == "READY" else "timeout")
' "$PORT")
      fi
      kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
      echo "$line" >> "$WORK/results.jsonl"
      if [[ $mode == null-sink ]]; then
        ceiling=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["vector_MBps"])' "$line")
      fi
      python3 -c '
import json, sys
r, mode, ceiling, ready = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
print("%-8s %-6s %-14s %10.1f %8.0f%% %10.0f %8.1f %8.1f %9s" % (r["type"], r["batch_rows"], mode,
      r["vector_MBps"], 100 * r["vector_MBps"] / ceiling, r["rows_per_s"], r["p50_ms"],
      r["p99_ms"], ready))
' "$line" "$mode" "$ceiling" "$ready"
    done
  done
done
