#!/usr/bin/env bash
# Debian's LibTorch 1.13 (build/) against LibTorch 2 from PyPI's torch wheel (build-libtorch2/,
# scripts/setup_libtorch2.sh): the forward benchmark (tokens/s, no hooks) and the head_z sweep and
# record of bench/mpi_bench.cpp on one rank with every core, interleaved, 3 rounds; prints the
# medians and LibTorch 2's ratio to Debian's (above 1: LibTorch 2 is faster).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MECHLENS_BUILD_TARGET=forward_bench bash "$root/scripts/build.sh"
MECHLENS_BUILD_TARGET=mpi_bench bash "$root/scripts/build.sh"
torch_dir=$(bash "$root/scripts/setup_libtorch2.sh")
second=$root/build-libtorch2
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$second" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMECHLENS_TORCH_DIR="$torch_dir" \
  -DMECHLENS_BUILD_BENCH=ON >&2
cmake --build "$second" -j "$(nproc)" --target forward_bench mpi_bench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in 1 2 3; do
  for flavour in build build-libtorch2; do
    "$root/$flavour/bench/forward_bench" | grep -E '^\| (small|large)' >>"$work/$flavour.forward"
    MECHLENS_NUM_THREADS=$(nproc) "$root/$flavour/bench/mpi_bench" "$work" >>"$work/$flavour.sweep"
  done
done
python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
def forward(flavour):
    rows = {}
    for line in open(f"{work}/{flavour}.forward"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.setdefault(cells[0], []).append(float(cells[2]))
    return {k: statistics.median(v) for k, v in rows.items()}
def sweep(flavour):
    runs = [json.loads(line) for line in open(f"{work}/{flavour}.sweep")]
    return {k: statistics.median(r[k] for r in runs) for k in ("sweep_seconds", "record_seconds")}
f1, f2 = forward("build"), forward("build-libtorch2")
s1, s2 = sweep("build"), sweep("build-libtorch2")
print(f"{'benchmark':<36} {'Debian 1.13':>12} {'LibTorch 2':>12} {'ratio':>7}")
for name in f1:
    print(f"forward {name + ', tokens/s':<28} {f1[name]:12.0f} {f2[name]:12.0f} {f2[name] / f1[name]:6.2f}x")
for key, label in (("sweep_seconds", "head_z sweep, s"), ("record_seconds", "record, s")):
    print(f"{label:<36} {s1[key]:12.2f} {s2[key]:12.2f} {s1[key] / s2[key]:6.2f}x")
PY
