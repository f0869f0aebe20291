# The two commands of the README, and the pieces they are made of.
#   make examples  - install dependencies, build, run the examples/ suite
#   make check     - install dependencies, build with ASan/UBSan, run every test
JOBS ?= $(shell nproc)

.PHONY: deps build build-asan examples check format clean

deps:
	sh scripts/deps.sh

build: deps
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVIUM_TESTS=OFF
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPROVIUM_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)

examples: build
	build/provium examples/

check: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan
