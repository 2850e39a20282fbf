#!/usr/bin/env bash
# Ingestion benchmark, side by side in one run: the same load against
#   - `arbalest serve --null-sink` (Flight decodes and acks, nothing stored: the ceiling), and
#   - a real server with the WAL at --fsync none and at the default --fsync always,
# for 384-d float32 and int8 vectors in 1k- and 10k-row batches. Prints one JSON line per run
# and a summary table. Usage: bench/ingest/run.sh [build_dir] (default build/release).
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
printf "%-8s %-6s %-14s %10s %10s %8s %8s\n" type rows mode vector_MB/s rows/s p50_ms p99_ms
for type in float32 int8; do
  for rows in 1000 10000; do
    batches=$((TOTAL_ROWS / STREAMS / rows))
    for mode in null-sink "fsync none" "fsync always"; do
      case $mode in
        null-sink) start_server --null-sink ;;
        "fsync none") start_server --fsync none ;;
        "fsync always") start_server --fsync always ;;
      esac
      line=$("$BUILD/bench/ingest_bench" --port "$PORT" --streams "$STREAMS" --batches "$batches" \
               --rows "$rows" --dim 384 --type "$type")
      kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
      echo "$line" >> "$WORK/results.jsonl"
      python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("%-8s %-6s %-14s %10.1f %10.0f %8.1f %8.1f" % (r["type"], r["batch_rows"], sys.argv[2],
      r["vector_MBps"], r["rows_per_s"], r["p50_ms"], r["p99_ms"]))
' "$line" "$mode"
    done
  done
done
