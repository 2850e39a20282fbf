#!/usr/bin/env bash
# Nightly-style crash soak: the SIGKILL crash tests of tests/integration/test_crash.py with many
# more kill points than CI runs (during puts, WAL rotation, deletes and snapshots), repeated
# ROUNDS times (every round draws new random kill moments). Not run by CI: a kill costs about
# 1.5 s on a 2-core machine (ROUNDS=1 KILLS=30: 75 kills in 2 minutes).
#
#   scripts/crash_soak.sh                 # 3 rounds of 200 put/delete kills + 100 snapshot kills
#   ROUNDS=10 KILLS=500 scripts/crash_soak.sh
#
# Exits non-zero on the first round that loses an acked row or resurrects a deleted one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
KILLS=${KILLS:-200}
SNAPSHOT_KILLS=${SNAPSHOT_KILLS:-$((KILLS / 2))}
BIN=${ARBALEST_BIN:-$PWD/build/release/arbalest}
[[ -x "$BIN" ]] || make build
for round in $(seq 1 "$ROUNDS"); do
  echo "== crash soak round $round/$ROUNDS: $KILLS kills per test, $SNAPSHOT_KILLS during snapshots"
  start=$(date +%s)
  ARBALEST_BIN=$BIN ARBALEST_CRASH_ITERATIONS=$KILLS ARBALEST_CRASH_SNAPSHOT_ITERATIONS=$SNAPSHOT_KILLS \
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/integration/test_crash.py
  echo "== round $round passed in $(( $(date +%s) - start )) s"
done
