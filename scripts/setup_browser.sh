#!/usr/bin/env bash
# Installs Debian's Chromium for the viewer's browser tests (headless; pages opened from file://).
# Idempotent; the tests skip themselves where it is missing.
set -euo pipefail
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing chromium (viewer tests)" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
