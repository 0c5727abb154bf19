#!/usr/bin/env bash
# Makes the Python environment of the tests and benchmarks: TransformerLens (and the torch it needs)
# from PyPI, pinned in scripts/requirements-reference.txt, in a virtual environment outside the
# checkout, rebuilt only when the requirements change. Prints the environment's python on stdout.
# MECHLENS_VENV overrides the location.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/scripts/requirements-reference.txt"
venv=${MECHLENS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mechlens/venv}
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  echo "$venv/bin/python"
  exit 0
fi
if ! /usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3-venv >&2
fi
echo "setup_python: installing the reference environment into $venv (a few minutes, once)" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
/usr/bin/python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
"$venv/bin/python" -c "import transformer_lens, transformer_lens.patching" >&2
echo "$wanted" >"$stamp"
echo "$venv/bin/python"
