#!/usr/bin/env bash
# Ingestion benchmark (bench/ingest/ingest_matrix.py says what it measures): null-sink ceiling,
# --fsync none / interval / always, the disk measured in the same run, medians of interleaved
# repetitions. Usage: bench/ingest/run.sh [ingest_matrix.py options], e.g.
#   bench/ingest/run.sh --builds base=../main-build/release new=build/release --reps 3
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/ingest/ingest_matrix.py "$@"
