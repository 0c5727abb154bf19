#!/usr/bin/env bash
# Work shared by MPI ranks on this machine's cores: the same head_z sweep and record (bench/mpi_bench.cpp,
# GPT-2-small-shaped) as 1 rank x 1 thread (the baseline), 1 rank x N threads and N ranks x 1 thread,
# N = the cores. Prints each layout's times, the ratios against the baseline, and the share of the
# shared run spent saving shards, waiting for the slowest rank, exchanging results and joining records.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=mpi_bench bash "$root/scripts/build.sh"
command -v mpirun >/dev/null || { echo "mpirun is not installed (scripts/setup.sh installs OpenMPI)"; exit 1; }
python=/usr/bin/python3
[ -x "$python" ] || python=python3
cores=${MECHLENS_BENCH_CORES:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bench="$build/bench/mpi_bench"
MECHLENS_NUM_THREADS=1 "$bench" "$work" "$cores" >"$work/1x1.json"
MECHLENS_NUM_THREADS=$cores "$bench" "$work" "$cores" >"$work/1x$cores.json"
# Unbound ranks, one thread each: the layout an MPI run chooses by itself on this machine.
mpirun -n "$cores" --bind-to none -x MECHLENS_NUM_THREADS=1 "$bench" "$work" "$cores" >"$work/${cores}x1.json"
"$python" - "$work" "$cores" <<'PY'
import json, sys
work, cores = sys.argv[1], int(sys.argv[2])
runs = {name: json.load(open(f"{work}/{name}.json")) for name in ("1x1", f"1x{cores}", f"{cores}x1")}
base = runs["1x1"]
print(f"{'ranks x threads':<16} {'sweep s':>8} {'vs 1x1':>7} {'record s':>9} {'vs 1x1':>7}   sweep: save / wait / exchange, record: join")
for name, run in runs.items():
    sweep, record = run["sweep_seconds"], run["record_seconds"]
    shares = (f"{run['save_seconds'] / sweep:6.1%} / {run['wait_seconds'] / sweep:6.1%} / "
              f"{run['exchange_seconds'] / sweep:6.1%}, {run['join_seconds'] / record:6.1%}")
    print(f"{name:<16} {sweep:8.2f} {base['sweep_seconds'] / sweep:6.2f}x {record:9.2f} "
          f"{base['record_seconds'] / record:6.2f}x   {shares}")
shared, threaded = runs[f"{cores}x1"], runs[f"1x{cores}"]
print(f"{cores} ranks x 1 thread vs 1 rank x {cores} threads: sweep {threaded['sweep_seconds'] / shared['sweep_seconds']:.2f}x, "
      f"record {threaded['record_seconds'] / shared['record_seconds']:.2f}x (above 1: the ranks are faster)")
# A whole patching run with its set-up: ranks sharing packs (each repeats the set-up) or taking
# whole prompt groups (each runs its groups' set-up only); ratios against the unsplit 1 x 1 run.
packs, groups, g = "setup_included_by_packs_seconds", "setup_included_by_groups_seconds", base["prompt_groups"]
print(f"whole patch run with its set-up (8 pairs), vs 1 x 1 unsplit ({base[packs]:.2f} s): "
      f"1 x 1 in {g} prompt groups {base[packs] / base[groups]:.2f}x; "
      f"{cores} x 1 sharing packs {base[packs] / shared[packs]:.2f}x, "
      f"taking {g} prompt groups {base[packs] / shared[groups]:.2f}x")
PY
