# Sourced by the benchmark scripts (from the repository root): builds the RelWithDebInfo tree
# build-bench unless PROVIUM_BENCH_BINARY names a provium already, and points the guest image
# cache at build-bench/images so images other runs rebuild do not change under a benchmark.
if [ -z "${PROVIUM_BENCH_BINARY:-}" ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF >/dev/null
  cmake --build build-bench --target provium provium-agent agent-overlay
  PROVIUM_BENCH_BINARY=build-bench/provium
fi
PROVIUM_BUILD_DIR=${PROVIUM_BUILD_DIR:-$(pwd)/build-bench/images}
export PROVIUM_BUILD_DIR
mkdir -p bench/results "$PROVIUM_BUILD_DIR"
