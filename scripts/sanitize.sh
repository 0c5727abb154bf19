#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (CMakePresets.json preset
# asan-ubsan, build-asan/): the GoogleTest suites, fuzz replays, damaged files, SDK examples and
# notebooks. The cli.* and parity scripts are left out: they test the same library code through the
# binary, and LibTorch's own uninstrumented allocations make them slow.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
[ -f build-asan/CMakeCache.txt ] || cmake --preset asan-ubsan >&2
cmake --build build-asan -j "$(nproc)" >&2
# LibTorch is not built with ASan: its allocations are not tracked, only mechlens's own code is checked.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:detect_odr_violation=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --preset asan-ubsan -j "$(nproc)" "$@"
