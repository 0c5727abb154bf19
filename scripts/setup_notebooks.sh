#!/usr/bin/env bash
# Installs what the notebooks need from Debian's packages (h5py, numpy, matplotlib) and what runs them
# headless in the test suite (jupyter-nbconvert with the Python kernel). Idempotent.
set -euo pipefail
packages=(python3-h5py python3-numpy python3-matplotlib jupyter-nbconvert python3-ipykernel)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]} (notebooks)" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
