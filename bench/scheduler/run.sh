#!/bin/sh
# Scheduler benchmark: a suite of many small files at one file at a time vs the default pool,
# reported as a speedup ratio (bench/results/scheduler.json). Measured, never asserted.
#
#   sh bench/scheduler/run.sh
#
# Environment: PROVIUM_BENCH_REPS (default 3), PROVIUM_BENCH_QEMU_FILES (8),
# PROVIUM_BENCH_LOCAL_FILES (40), PROVIUM_BENCH_BINARY (skip building build-bench).
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${PROVIUM_BENCH_BINARY:-}" ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF >/dev/null
  cmake --build build-bench --target provium provium-agent agent-overlay
  PROVIUM_BENCH_BINARY=build-bench/provium
fi
PROVIUM_BUILD_DIR=${PROVIUM_BUILD_DIR:-$(pwd)/build-bench/images}
export PROVIUM_BUILD_DIR
mkdir -p bench/results "$PROVIUM_BUILD_DIR"
python3 -B bench/scheduler/bench.py "$PROVIUM_BENCH_BINARY" bench/results/scheduler.json
