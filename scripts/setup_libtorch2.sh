#!/usr/bin/env bash
# Installs LibTorch 2 as PyPI ships it inside the torch wheel (2.7.1, CUDA 12.6 build, C++11 ABI),
# pinned by hash, into ~/.cache/mechlens/libtorch2, and prints its torch/ folder: what
# torch.utils.cmake_prefix_path points into (torch/share/cmake), for cmake -DMECHLENS_TORCH_DIR=.
# Only the C++ parts are unpacked: headers, CMake files, the CPU and CUDA libraries, and the two
# CUDA runtime libraries libtorch_cpu loads even on a machine without a GPU (cudart, cupti; PyPI's
# nvidia-cuda-runtime-cu12 and nvidia-cuda-cupti-cu12). A GPU machine needs the rest of the wheel's
# nvidia-* dependencies (pip install torch==2.7.1) for libtorch_cuda.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${MECHLENS_LIBTORCH2_HOME:-$HOME/.cache/mechlens/libtorch2}
mkdir -p "$(dirname "$dest")"
exec 9>"$dest.lock"  # one download at a time (.ci/run fetches it while the first build compiles)
flock 9
if [ ! -f "$dest/.complete" ]; then
  command -v unzip >/dev/null || bash "$root/scripts/apt_install.sh" unzip
  python=$(bash "$root/scripts/setup_python.sh")  # a pip for downloading
  echo "setup_libtorch2: downloading torch 2.7.1 (820 MB) and the CUDA runtime libraries (10 MB), once" >&2
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  cat >"$download/requirements.txt" <<'REQ'
torch==2.7.1 --hash=sha256:06eea61f859436622e78dd0cdd51dbc8f8c6d76917a9cf0555a333f9eac31ec1
nvidia-cuda-runtime-cu12==12.6.77 --hash=sha256:ba3b56a4f896141e25e19ab287cd71e52a6a0f4b29d0d31609f60e3b4d5219b7
nvidia-cuda-cupti-cu12==12.6.80 --hash=sha256:6768bad6cab4f19e8292125e5f1ac8aa7d1718704012a0e3272a6f61c4bce132
REQ
  "$python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
    -r "$download/requirements.txt" -d "$download" >&2
  rm -rf "$dest" && mkdir -p "$dest"
  unzip -q -o "$download"/torch-2.7.1-*.whl 'torch/include/*' 'torch/share/cmake/*' 'torch/lib/*.so*' \
    -x 'torch/lib/libtorch_python.so' -d "$dest"
  for wheel in "$download"/nvidia_*.whl; do unzip -q -o "$wheel" 'nvidia/*' -d "$dest"; done
  touch "$dest/.complete"
fi
echo "$dest/torch"
