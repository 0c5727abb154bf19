#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless (Debian's jupyter-nbconvert, Python kernel) against
# the built mechlens; fails when a cell raises. Skips (77) where nbconvert is not installed
# (scripts/setup_notebooks.sh installs it).
# usage: run_notebooks.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
command -v jupyter-nbconvert >/dev/null || { echo "jupyter-nbconvert not installed; notebooks skipped"; exit 77; }
export MECHLENS_BIN=$mechlens MPLBACKEND=Agg
status=0
for notebook in "$source"/notebooks/*.ipynb; do
  name=$(basename "$notebook")
  # Run from a copy beside the sources, so that relative paths resolve as for a user.
  if jupyter-nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
      --ExecutePreprocessor.kernel_name=python3 --output-dir "$work" "$notebook" >"$work/$name.log" 2>&1; then
    echo "ok $name"
  else
    echo "FAIL $name"; tail -30 "$work/$name.log"; status=1
  fi
done
exit $status
