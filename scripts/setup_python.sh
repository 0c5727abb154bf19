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
# Callers may run side by side (the test setup and the LibTorch 2 download in .ci/run): the second
# waits for the first to finish the environment instead of rebuilding it under it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  echo "$venv/bin/python"
  exit 0
fi
/usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null || bash "$root/scripts/apt_install.sh" python3-venv
echo "setup_python: installing the reference environment into $venv (a few minutes, once)" >&2
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
"$venv/bin/python" -c "import transformer_lens, transformer_lens.patching" >&2
echo "$wanted" >"$stamp"
echo "$venv/bin/python"
