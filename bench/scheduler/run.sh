#!/bin/sh
# Scheduler benchmark: a suite of many small files at one file at a time vs the default pool,
# reported as a speedup ratio (bench/results/scheduler.json). Measured, never asserted.
#
#   sh bench/scheduler/run.sh [--quick]
#
# Environment: PROVIUM_BENCH_SCHED_REPS (default 3; quick 1), PROVIUM_BENCH_QEMU_FILES (6; 4),
# PROVIUM_BENCH_LOCAL_FILES (40; 20), PROVIUM_BENCH_BINARY (skip building build-bench).
set -eu
cd "$(dirname "$0")/../.."
. bench/build.sh
python3 -B bench/scheduler/bench.py "$PROVIUM_BENCH_BINARY" bench/results/scheduler.json "$@"
