#!/usr/bin/env bash
# Style and static checks: clang-format (must leave every file unchanged) and clang-tidy with the
# checks in .clang-tidy on the given files (default: the C++ files changed against origin/main or
# HEAD~1). Uses build/compile_commands.json, so build first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in clang-format clang-tidy; do
  command -v "$tool" >/dev/null || { echo "lint: $tool missing (apt-get install $tool)" >&2; exit 2; }
done
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror
if [ $# -gt 0 ]; then files=("$@"); else
  base=$(git rev-parse --verify -q origin/main || git rev-parse HEAD~1)
  mapfile -t files < <(git diff --name-only "$base" -- '*.cpp')
fi
[ ${#files[@]} -eq 0 ] && { echo "lint: clang-format clean; no changed .cpp files for clang-tidy"; exit 0; }
# clang-tidy reads GCC's precompiled-header flags as its own: give it the compile commands without them
# (every file includes what it uses; the PCH only speeds up GCC).
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
python3 - build/compile_commands.json "$db/compile_commands.json" <<'PY'
import json, re, sys
entries = json.load(open(sys.argv[1]))
for entry in entries:
    entry["command"] = re.sub(r"(-Winvalid-pch|-include \S*cmake_pch\.hxx|-Xclang -include-pch -Xclang \S+)", "",
                              entry["command"])
json.dump(entries, open(sys.argv[2], "w"))
PY
clang-tidy -p "$db" --quiet "${files[@]}"
