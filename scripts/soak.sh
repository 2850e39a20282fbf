#!/usr/bin/env bash
# Soak: a real server under mixed puts, deletes, searches, snapshots, compactions and dataset
# re-creation for DURATION, sampling its RSS and search p99 each minute; exits 1 when either
# drifts past its bound (scripts/soak.py says which) or a request fails. Not run by CI.
#
#   scripts/soak.sh 15m                       # 15 minutes, 100k live rows
#   scripts/soak.sh 1h --rows 500000 --rss-ratio 1.1
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 ]]; then
  echo "usage: scripts/soak.sh DURATION [--rows N] [--searchers N] [--warmup MIN]" \
       "[--rss-ratio R] [--p99-ratio R]" >&2
  exit 2
fi
BIN=${ARBALEST_BIN:-$PWD/build/release/arbalest}
[[ -x "$BIN" ]] || make build
ARBALEST_BIN=$BIN exec .venv/bin/python scripts/soak.py "$@"
