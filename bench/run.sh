#!/bin/sh
# Benchmarks: the one command that builds what it needs, runs every part, prints the figures
# and writes them as JSON (bench/results/*.json, gathered in bench/results/summary.json) and as
# Markdown: bench/RESULTS.md for a full run, bench/results/RESULTS-quick.md for a quick one.
# Parts: agent round trips (--vmm local); the `linux` guest under QEMU (boot, snapshot,
# restore, run, read_file); memory scaling; the scheduler's parallel speedup; suites (100
# tests, 20 files, events overhead, file-count scaling, idle memory); and provium side by side
# with libguestfs and a plain QEMU boot. Speed is measured here, never asserted in tests.
#
#   sh bench/run.sh            # the full run (7.5 minutes under TCG on 2 cores; budget 15)
#   sh bench/run.sh --quick    # fewer repetitions: a first look (2.3 minutes; budget 3)
set -eu
cd "$(dirname "$0")/.."
QUICK=""
# Every part picks its own repetition counts for --quick (each script's header lists them and
# the environment variables that override them).
if [ "${1:-}" = "--quick" ]; then QUICK="--quick"; fi
started=$(date +%s)
mkdir -p bench/results
stages=bench/results/stages.txt
: >"$stages"
stage() {  # stage NAME COMMAND...: runs one part and records how long it took
  name=$1
  shift
  t0=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - t0 ))" >>"$stages"
}
build() {
  sh scripts/deps.sh
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF >/dev/null
  cmake --build build-bench --target provium provium-bench-agent provium-agent agent-overlay
}
agent() {
  echo "== agent round trips over --vmm local (machine: $(nproc) cores, $(uname -r)) =="
  build-bench/provium-bench-agent bench/results/agent-local.json
}
memory() {
  . bench/build.sh
  python3 -B bench/qemu/scaling.py "$PROVIUM_BENCH_BINARY" bench/results/memory-scaling.json $QUICK
}
stage build build
stage "agent (local)" agent
stage "linux guest" sh bench/qemu/run.sh $QUICK
stage "memory scaling" memory
stage scheduler sh bench/scheduler/run.sh $QUICK
stage suites sh bench/suite/run.sh $QUICK
stage peers sh bench/peers/run.sh $QUICK
python3 -B bench/report.py bench/results "$stages" "$(( $(date +%s) - started ))" $QUICK >bench/results/report.log
cat bench/results/report.log
echo "bench: done in $(( $(date +%s) - started )) s${QUICK:+ (quick)}"
