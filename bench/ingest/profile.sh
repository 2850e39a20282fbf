#!/usr/bin/env bash
# Where the put path's CPU goes: runs one ingest (bench/ingest/ingest_bench) against a server
# started with the given flags while `perf record -g` samples the server, then prints the
# share of samples per thread (the server names its threads: arb-index, arb-wal,
# grpcpp_sync_ser for Flight's handlers, ...) and the top symbols of the threads that ack puts
# (everything but the index workers), and the server's CPU seconds per GB acked.
# Usage: bench/ingest/profile.sh [server flags...]   e.g. bench/ingest/profile.sh --fsync none
# Env: BUILD (build/release), STREAMS (4), ROWS (10000 rows per put), TOTAL (600000), TYPE
# (float32|int8), PORT (13950).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/release}
STREAMS=${STREAMS:-4}
ROWS=${ROWS:-10000}
TOTAL=${TOTAL:-600000}
TYPE=${TYPE:-float32}
PORT=${PORT:-13950}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; [[ -n ${KEEP_PERF:-} ]] && cp "$WORK/perf.data" "$KEEP_PERF"; rm -rf "$WORK"' EXIT

"$BUILD/arbalest" serve --port "$PORT" --meta-port $((PORT + 1)) --metrics-port $((PORT + 2)) \
  --data-dir "$WORK/data" --log-level warn "$@" 2>>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
# CPU ticks per thread name: "name ticks" lines (a name's threads summed; /proc's comm field
# may hold spaces, so the fields are counted from the end of the line).
thread_ticks() {
  for t in /proc/$SERVER/task/*; do
    printf '%s %s\n' "$(tr ' ' _ < "$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
  done 2>/dev/null | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}'
}
before=$(thread_ticks)
perf record -q -g -p "$SERVER" -o "$WORK/perf.data" 2>/dev/null &
PERF=$!
sleep 0.5
result=$("$BUILD/bench/ingest_bench" --port "$PORT" --streams "$STREAMS" \
  --batches $((TOTAL / STREAMS / ROWS)) --rows "$ROWS" --dim 384 --type "$TYPE")
kill -INT "$PERF"; wait "$PERF" || true
after=$(thread_ticks)
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# command: bench/ingest/profile.sh $* (STREAMS=$STREAMS ROWS=$ROWS TOTAL=$TOTAL TYPE=$TYPE)"
echo "$result"
python3 -c '
import json, os, sys
r = json.loads(sys.argv[1])
def parse(text):
    fields = (line.split() for line in text.splitlines())
    return {f[0]: int(f[1]) for f in fields if len(f) == 2}  # threads that exited meanwhile: none
before, after = parse(sys.argv[2]), parse(sys.argv[3])
gb = r["vector_MBps"] * r["seconds"] / 1000
seconds = {k: (after[k] - before.get(k, 0)) / os.sysconf("SC_CLK_TCK") for k in after}
ack = sum(v for k, v in seconds.items() if k != "arb-index")
print("server CPU seconds per GB acked: %.2f outside the index workers, %.2f in them" %
      (ack / gb, seconds.get("arb-index", 0) / gb))
print("  by thread: " + ", ".join("%s %.2f" % (k, v / gb) for k, v in sorted(seconds.items())
                                  if v > 0))' "$result" "$before" "$after"
echo "## samples per thread"
perf report -i "$WORK/perf.data" --stdio --no-children --sort comm 2>/dev/null |
  grep -E '^ +[0-9]' | head -12
echo "## top symbols outside the index workers"
perf report -i "$WORK/perf.data" --stdio --no-children --sort sym -g none \
  --comms "$(perf report -i "$WORK/perf.data" --stdio --sort comm 2>/dev/null |
             grep -E '^ +[0-9]' | awk '{print $NF}' | grep -v arb-index | paste -sd,)" \
  2>/dev/null | grep -E '^ +[0-9]' | head -25
