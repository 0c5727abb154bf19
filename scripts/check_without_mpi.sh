#!/usr/bin/env bash
# The build without MPI (-DMECHLENS_MPI=OFF): the communicator layer, the only code that differs
# between the two builds, compiled alone into build-without-mpi/ and its tests run there: one
# process works, and several ranks started by a launcher are refused with the remedy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
build_dir=${MECHLENS_BUILD_DIR:-$root/build}-without-mpi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMECHLENS_MPI=OFF \
  -DMECHLENS_BUILD_BENCH=OFF >&2
cmake --build "$build_dir" -j "$(nproc)" --target parallel_test >&2
"$build_dir/tests/parallel/parallel_test"
