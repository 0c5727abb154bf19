#!/usr/bin/env bash
# Installs what the notebooks need from Debian's packages (h5py, numpy, matplotlib) and what runs them
# headless in the test suite (jupyter-nbconvert with the Python kernel). Idempotent.
set -euo pipefail
bash "$(dirname "$0")/apt_install.sh" python3-h5py python3-numpy python3-matplotlib jupyter-nbconvert python3-ipykernel
