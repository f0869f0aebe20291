#!/bin/sh
# Provium side by side with libguestfs and a plain QEMU boot, in one run (issue: benchmarks).
# Needs bench/results/qemu.json from bench/qemu/run.sh (run first by bench/run.sh).
#
#   sh bench/peers/run.sh [--quick]
set -eu
cd "$(dirname "$0")/../.."
. bench/build.sh
# The peers use the accelerator provium used (it knows whether /dev/kvm really works).
PROVIUM_BENCH_ACCEL=$(python3 -c "import json;print(json.load(open('bench/results/qemu.json'))['machine'].get('accel','TCG'))" 2>/dev/null || echo TCG)
export PROVIUM_BENCH_ACCEL
python3 -B bench/peers/libguestfs.py build-bench/peers bench/results/libguestfs.json "$@"
python3 -B bench/peers/plain_qemu.py "$PROVIUM_BUILD_DIR/linux" build-bench/peers bench/results/plain-qemu.json "$@"
python3 -B bench/peers/compare.py "$PROVIUM_BENCH_BINARY" bench/results "$@"
