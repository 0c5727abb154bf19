#!/usr/bin/env bash
# Installs those of the given Debian packages that are missing (as root, or through sudo); the one
# way every setup script installs packages.
# usage: apt_install.sh PACKAGE...
set -euo pipefail
# One installer at a time: setup scripts may run side by side (scripts/test.sh installs the test
# environment while the build compiles), and dpkg refuses a second concurrent apt-get.
exec 9>"${TMPDIR:-/tmp}/mechlens-apt.lock"
flock 9
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
echo "setup: installing ${missing[*]}" >&2
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
