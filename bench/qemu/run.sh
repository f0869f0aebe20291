#!/bin/sh
# QEMU backend benchmark: cold boot, snapshot, restore and vm:run round trips of the `linux`
# guest (256 MiB), and whole `provium` processes, measured through the real binary. Prints a
# table and writes bench/results/qemu.json. Speed is measured here, never asserted in tests.
#
#   sh bench/qemu/run.sh [--quick]
#
# Environment: PROVIUM_BENCH_REPS (boots, snapshots, restores, processes; default 5, quick 3),
# PROVIUM_BENCH_RUNS (vm:run calls; default 200, quick 50), PROVIUM_BENCH_BREAKDOWN (0: skip the
# verbose and initcall_debug boots; quick skips them), PROVIUM_BENCH_BINARY (use this provium
# instead of building build-bench; its agent overlay must sit next to it as usual),
# PROVIUM_BUILD_DIR (guest image cache; default build-bench/images, so images other runs
# rebuild on this machine do not change under the benchmark).
set -eu
cd "$(dirname "$0")/../.."
. bench/build.sh
# Run from the repository root, so provium.toml's `linux` profile is the one measured.
python3 -B bench/qemu/bench.py "$PROVIUM_BENCH_BINARY" bench/results/qemu.json "$@"
