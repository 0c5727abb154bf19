#!/usr/bin/env bash
# Installs mechlens's build and run dependencies from Debian's packages (idempotent).
# OpenBLAS in its OpenMP flavour replaces the reference libblas.so.3 that libtorch would
# otherwise use: one OpenMP pool is then shared by LibTorch and OpenBLAS (no oversubscription).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp
  libhdf5-dev libfmt-dev libboost-program-options-dev nlohmann-json3-dev libssl-dev libicu-dev
  libgtest-dev googletest
  libopenmpi-dev openmpi-bin
  python3 python3-torch python3-numpy python3-h5py
)

bash "$(dirname "$0")/apt_install.sh" "${packages[@]}"

# Make libblas.so.3, liblapack.so.3 and libopenblas.so.0 resolve to OpenBLAS's OpenMP flavour, not the
# netlib reference implementation nor OpenBLAS's pthreads flavour. The choice is pinned (manual mode):
# in auto mode, a later install that pulls in libopenblas0-pthread (e.g. SciPy, a dependency of the
# notebook packages) silently switches to it, since it has the higher priority.
arch_dir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for library in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  openmp_flavour="$arch_dir/openblas-openmp/$library"
  [ -e "$openmp_flavour" ] || continue
  name="$library-$(basename "$arch_dir")"
  if ! update-alternatives --query "$name" | grep -qx "Status: manual" ||
    [ "$(readlink -f "$arch_dir/$library" || true)" != "$(readlink -f "$openmp_flavour")" ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd update-alternatives --set "$name" "$openmp_flavour" >&2
  fi
done
