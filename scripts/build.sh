#!/usr/bin/env bash
# Configures and builds mechlens into build/ (Release). Extra arguments go to cmake's configure step;
# MECHLENS_BUILD_TARGET limits the build to one target (e.g. mechlens).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
build_dir=${MECHLENS_BUILD_DIR:-$root/build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# With OpenMPI installed (setup.sh installs it), runs can be shared by the ranks of mpirun.
mpi=()
command -v mpicxx >/dev/null && mpi=(-DMECHLENS_MPI=ON)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${mpi[@]}" "$@" >&2
elif [ $# -gt 0 ]; then
  cmake -S "$root" -B "$build_dir" "$@" >&2
fi
target=()
[ -n "${MECHLENS_BUILD_TARGET:-}" ] && target=(--target "$MECHLENS_BUILD_TARGET")
cmake --build "$build_dir" -j "$(nproc)" "${target[@]}" >&2
