#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of fuzz/ (docs/fuzzing.md).
#
#   scripts/fuzz.sh [-j JOBS] [TARGET|all] [SECONDS]   long run: each target for SECONDS (600)
#   scripts/fuzz.sh --smoke                             what `make fuzz-smoke` (and CI) runs
#   scripts/fuzz.sh --list                              the targets
#   scripts/fuzz.sh --report                            totals of every long run so far
#
# A long run keeps its corpus and its crashes outside the repository, in
# $FUZZ_DIR/<target>/{corpus,crashes} (default ~/.cache/arbalest-fuzz), so that runs build on
# each other; it starts from the seeds (fuzz/corpus/<target>) and the regression inputs
# (fuzz/regressions/<target>). -j runs that many fuzzing processes per target (libFuzzer's fork
# mode; a crash is saved and the run goes on). It ends with a line per target: executions,
# coverage (cov: edges, ft: features), corpus size, crashes.
#
# --smoke replays every regression input, then fuzzes each target for SMOKE_SECONDS (7) from
# its seeds, in a scratch corpus, with a fixed seed (SMOKE_SEED); it fails on any crash, leak,
# timeout or sanitizer report.
#
# BUILD_DIR (build/fuzz) is configured with clang++ and -DARBALEST_FUZZ=ON when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(ticket action filter wal manifest tombstones hnsw_file ingest)
BUILD_DIR=${BUILD_DIR:-build/fuzz}
FUZZ_DIR=${FUZZ_DIR:-$HOME/.cache/arbalest-fuzz}
SMOKE_SECONDS=${SMOKE_SECONDS:-7}
JOBS=1

# Arrow's allocations through malloc, so that AddressSanitizer sees them (the wheel's default
# pool, jemalloc or mimalloc, would hide overflows of Arrow buffers and their leaks).
export ARROW_DEFAULT_MEMORY_POOL=system
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Per-input limits: a hang is an input that takes over 10 s, a blow-up one that needs 2 GiB.
LIMITS=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

build() {
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    CXX=${FUZZ_CXX:-clang++} cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DARBALEST_FUZZ=ON -DBUILD_TESTING=OFF -DARBALEST_PYTHON="$PWD/.venv/bin/python" >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "${BUILD_JOBS:-$(nproc)}" --target "${TARGETS[@]/#/fuzz_}"
}

# The dictionary of a target: the files of fuzz/dict/ it uses, joined (libFuzzer takes one).
dict_for() {
  local parts
  case $1 in
    ticket) parts="json filter_keys ticket" ;;
    action) parts="json filter_keys ticket action" ;;
    filter) parts="json filter_keys filter" ;;
    manifest) parts="json manifest" ;;
    ingest | hnsw_file) parts=$1 ;;
    *) return 0 ;;
  esac
  local file="$SCRATCH/$1.dict"
  for part in $parts; do cat "fuzz/dict/$part.dict"; done >"$file"
  echo "-dict=$file"
}

regressions_of() {
  local dir=fuzz/regressions/$1
  [[ -d $dir ]] && find "$dir" -type f | sort
  return 0
}

# The summary of a libFuzzer log: executions, coverage, corpus. A single process ends with
# stat:: lines; fork mode's status lines ("#N: cov: ...") count every job's executions.
summary() {
  local log=$1 runs last cov
  last=$(grep -a -E '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -1 || true)
  runs=$( (grep -a -o 'stat::number_of_executed_units: [0-9]*' "$log" || true) |
    awk '{s += $2} END {print s + 0}')
  if [[ $runs == 0 && -n $last ]]; then runs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last"); fi
  cov=$(grep -o -E 'cov: [0-9]+ ft: [0-9]+( corp: [0-9]+(/[0-9a-zA-Z]+)?)?' <<<"$last" || true)
  echo "executions: $runs ${cov:-}"
}

smoke() {
  local failed=0
  for target in "${TARGETS[@]}"; do
    local bin=$BUILD_DIR/fuzz/fuzz_$target log=$SCRATCH/$target.log
    mapfile -t inputs < <(regressions_of "$target")
    if ((${#inputs[@]})); then
      if ! "$bin" "${LIMITS[@]}" "${inputs[@]}" >"$log" 2>&1; then
        echo "fuzz-smoke: $target: a regression input fails again:" >&2
        tail -40 "$log" >&2
        failed=1
        continue
      fi
    fi
    mkdir -p "$SCRATCH/$target"
    # shellcheck disable=SC2046
    # A fixed seed: the same mutations every run, so that CI does not fail by chance on what a
    # long run should find (SMOKE_SEED=0 draws one).
    if ! "$bin" "${LIMITS[@]}" $(dict_for "$target") -max_total_time="$SMOKE_SECONDS" \
        -seed="${SMOKE_SEED:-20261205}" \
        -artifact_prefix="$SCRATCH/" "$SCRATCH/$target" "fuzz/corpus/$target" >"$log" 2>&1; then
      echo "fuzz-smoke: $target failed; the input is under $SCRATCH:" >&2
      tail -60 "$log" >&2
      failed=1
      continue
    fi
    echo "fuzz-smoke: $target ok (${#inputs[@]} regression inputs; $(summary "$log"))"
  done
  return $failed
}

long_run() {
  local target=$1 seconds=$2
  local work=$FUZZ_DIR/$target bin=$BUILD_DIR/fuzz/fuzz_$target
  local log
  mkdir -p "$work/corpus" "$work/crashes" "$work/logs"
  log=$work/logs/$(date +%Y%m%d-%H%M%S).log
  local parallel=()
  ((JOBS > 1)) && parallel=(-fork="$JOBS" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  local seeds=("fuzz/corpus/$target")
  [[ -d fuzz/regressions/$target ]] && seeds+=("fuzz/regressions/$target")
  echo "fuzz: $target for ${seconds}s ($JOBS jobs), log $log"
  # shellcheck disable=SC2046
  "$bin" "${LIMITS[@]}" $(dict_for "$target") "${parallel[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$work/crashes/" "$work/corpus" "${seeds[@]}" >"$log" 2>&1 || true
  local crashes
  crashes=$(find "$work/crashes" -type f | wc -l)
  echo "fuzz: $target: $(summary "$log"), crashes saved: $crashes ($work/crashes)"
}

# Per target: the executions of all its long runs, and the coverage its corpus reached (the
# last run's final status).
report() {
  for target in "${TARGETS[@]}"; do
    local logs=("$FUZZ_DIR/$target"/logs/*.log) total=0 last
    [[ -e ${logs[0]} ]] || { echo "$target: no runs"; continue; }
    for log in "${logs[@]}"; do
      total=$((total + $(summary "$log" | awk '{print $2}')))
    done
    last=$(summary "${logs[-1]}" | cut -d' ' -f3-)
    echo "$target: $total executions in ${#logs[@]} runs, $last," \
      "crashes saved: $(find "$FUZZ_DIR/$target/crashes" -type f | wc -l)"
  done
}

SMOKE=0
while (($#)); do
  case $1 in
    --smoke) SMOKE=1; shift ;;
    --list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
    --report) report; exit 0 ;;
    -j) JOBS=$2; shift 2 ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
TARGET=${1:-all}
SECONDS_EACH=${2:-600}
if [[ $TARGET != all ]] && [[ ! " ${TARGETS[*]} " == *" $TARGET "* ]]; then
  echo "fuzz: unknown target '$TARGET' (targets: ${TARGETS[*]})" >&2
  exit 2
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/arbalest-fuzz.XXXXXX")
build
if ((SMOKE)); then
  if smoke; then rm -rf "$SCRATCH"; else exit 1; fi
  exit 0
fi
trap 'rm -rf "$SCRATCH"' EXIT
if [[ $TARGET == all ]]; then
  for target in "${TARGETS[@]}"; do long_run "$target" "$SECONDS_EACH"; done
else
  long_run "$TARGET" "$SECONDS_EACH"
fi
