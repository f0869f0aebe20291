#!/bin/sh
# Benchmarks: one command that builds what it needs, prints the figures and writes
# bench/results/*.json (agent round trips, QEMU boot/snapshot/restore/run, the scheduler's
# parallel speedup, and provium side by side with libguestfs and a plain QEMU boot).
# Speed is measured here, never asserted in tests.
#
#   sh bench/run.sh            # the full run
#   sh bench/run.sh --quick    # fewer repetitions: a first look in a few minutes
set -eu
cd "$(dirname "$0")/.."
QUICK=""
if [ "${1:-}" = "--quick" ]; then
  QUICK="--quick"
  export PROVIUM_BENCH_REPS="${PROVIUM_BENCH_REPS:-3}" PROVIUM_BENCH_RUNS="${PROVIUM_BENCH_RUNS:-50}"
  export PROVIUM_BENCH_QEMU_FILES="${PROVIUM_BENCH_QEMU_FILES:-4}" PROVIUM_BENCH_LOCAL_FILES="${PROVIUM_BENCH_LOCAL_FILES:-20}"
  export PROVIUM_BENCH_PEER_REPS="${PROVIUM_BENCH_PEER_REPS:-3}" PROVIUM_BENCH_PEER_COMMANDS="${PROVIUM_BENCH_PEER_COMMANDS:-50}"
fi
started=$(date +%s)
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF >/dev/null
cmake --build build-bench --target provium-bench-agent provium-agent
mkdir -p bench/results
echo "== agent round trips over --vmm local (machine: $(nproc) cores, $(uname -r)) =="
build-bench/provium-bench-agent bench/results/agent-local.json
sh bench/qemu/run.sh
sh bench/scheduler/run.sh
sh bench/suite/run.sh $QUICK
sh bench/peers/run.sh $QUICK
echo "bench: done in $(( $(date +%s) - started )) s${QUICK:+ (quick)}"
