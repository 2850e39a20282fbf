#!/usr/bin/env bash
# Runs a GoogleTest binary as N shards at once (GoogleTest's GTEST_TOTAL_SHARDS and
# GTEST_SHARD_INDEX: each shard runs every Nth test), each shard's output kept apart and printed
# once it ends; fails when any shard fails. `make tsan` uses it: under ThreadSanitizer the index
# tests are about 40x slower, and split over the cores they end sooner.
#
#     scripts/gtest_shards.sh N <test binary> [gtest flags...]
set -uo pipefail
shards=$1
shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for ((i = 0; i < shards; ++i)); do
  GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i "$@" > "$logs/$i" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < shards; ++i)); do
  if wait "${pids[$i]}"; then status=passed; else status=FAILED; failed=1; fi
  echo "== shard $((i + 1)) of $shards $status"
  cat "$logs/$i"
done
exit $failed
