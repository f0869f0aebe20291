#!/bin/sh
# Benchmarks. Builds what it needs, then prints the figures and writes bench/results/*.json.
# Speed is measured here, never asserted in tests.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF >/dev/null
cmake --build build-bench --target provium-bench-agent provium-agent
mkdir -p bench/results
echo "== agent round trips over --vmm local (machine: $(nproc) cores, $(uname -r)) =="
build-bench/provium-bench-agent bench/results/agent-local.json
sh bench/qemu/run.sh
sh bench/scheduler/run.sh
sh bench/peers/run.sh
