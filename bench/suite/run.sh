#!/bin/sh
# Suite-level figures: a file of 100 trivial tests, a suite of 20 one-guest files (files per
# minute) and the cost of --save-events (bench/results/suite.json). Measured, never asserted.
#
#   sh bench/suite/run.sh [--quick]
set -eu
cd "$(dirname "$0")/../.."
. bench/build.sh
python3 -B bench/suite/bench.py "$PROVIUM_BENCH_BINARY" bench/results/suite.json "$@"
