#!/usr/bin/env bash
# The second build flavour, checked as a smoke test: LibTorch 2 from PyPI's torch wheel
# (scripts/setup_libtorch2.sh) instead of Debian's LibTorch 1.13, configured without MPI, into
# build-libtorch2/. Builds and runs the runtime's, hooks' and utilities' tests there (the runtime's
# invariants, variants, hooks and weight processing against LibTorch 2) and the communicator's tests
# of the build without MPI (one process works; several ranks are refused with the remedy). The
# whole suite on this flavour is `MECHLENS_BUILD_DIR=build-libtorch2 scripts/test.sh` after
# configuring it so (README, "Build flavours"): a 20-minute build and 5 minutes of tests on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
torch_dir=$(bash "$root/scripts/setup_libtorch2.sh")
build_dir=${MECHLENS_LIBTORCH2_BUILD_DIR:-$root/build-libtorch2}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMECHLENS_TORCH_DIR="$torch_dir" \
  -DMECHLENS_MPI=OFF -DMECHLENS_BUILD_BENCH=OFF >&2
cmake --build "$build_dir" -j "$(nproc)" --target runtime_test hooks_test util_test parallel_test >&2
for test in runtime_test hooks_test util_test parallel/parallel_test; do
  OMP_NUM_THREADS=1 "$build_dir/tests/$test" --gtest_brief=1
done
