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

# Make sure libblas.so.3 resolves to OpenBLAS, not the netlib reference implementation.
arch_dir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
openblas_blas="$arch_dir/openblas-openmp/libblas.so.3"
if [ -e "$openblas_blas" ]; then
  current=$(readlink -f "$arch_dir/libblas.so.3" || true)
  if [ "$current" != "$(readlink -f "$openblas_blas")" ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd update-alternatives --set "libblas.so.3-$(basename "$arch_dir")" "$openblas_blas" >&2
  fi
fi
