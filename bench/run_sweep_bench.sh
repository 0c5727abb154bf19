#!/usr/bin/env bash
# A training sweep on this machine's cores (N = the cores): the init-ln grid's 4 runs of the shipped
# 3L1H d_model-128 matching model, STEPS steps each, as 1 process x 1 thread (the baseline), 1 process
# x N threads (what `mechlens sweep` does alone) and N MPI ranks x 1 thread (`mpirun -n N mechlens
# sweep`: whole runs dealt to the ranks). Interleaved REPEATS times; prints each layout's median
# time, its ratio against the baseline, and N ranks against N threads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=mechlens bash "$root/scripts/build.sh"
command -v mpirun >/dev/null || { echo "mpirun is not installed (scripts/setup.sh installs OpenMPI)"; exit 1; }
mechlens="$build/src/cli/mechlens"
cores=${MECHLENS_BENCH_CORES:-$(nproc)}
steps=${STEPS:-100} repeats=${REPEATS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
sweep=(sweep --grid init-ln --seeds 0 --steps "$steps" --warmup 10 --eval-every "$steps" --eval-n 200 --quiet)
seconds() {  # seconds LAYOUT COMMAND...: wall time of one sweep into a fresh folder
  local start
  rm -rf "${work:?}/$1"  # a folder's finished runs would be reused
  start=$(date +%s.%N)
  "${@:2}" --out-dir "$work/$1" >/dev/null 2>"$work/$1.log" || { cat "$work/$1.log" >&2; exit 1; }
  echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }'
}
declare -A times
for ((i = 1; i <= repeats; i++)); do
  times[1x1]+="$(seconds 1x1 env MECHLENS_NUM_THREADS=1 "$mechlens" "${sweep[@]}") "
  times[1x$cores]+="$(seconds "1x$cores" env MECHLENS_NUM_THREADS="$cores" "$mechlens" "${sweep[@]}") "
  times[${cores}x1]+="$(seconds "${cores}x1" mpirun -n "$cores" --bind-to none -x MECHLENS_NUM_THREADS=1 "$mechlens" "${sweep[@]}") "
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
base=$(median "${times[1x1]}")
echo "training sweep: 4 runs x $steps steps x 512 problems (3L1H d_model 128), medians of $repeats"
printf '%-16s %9s %8s   %s\n' "ranks x threads" "seconds" "vs 1x1" "each repeat"
for layout in 1x1 "1x$cores" "${cores}x1"; do
  t=$(median "${times[$layout]}")
  printf '%-16s %9.2f %7.2fx   %s\n' "$layout" "$t" "$(awk -v b="$base" -v t="$t" 'BEGIN { print b / t }')" "${times[$layout]}"
done
threaded=$(median "${times[1x$cores]}") shared=$(median "${times[${cores}x1]}")
echo "$cores ranks x 1 thread vs 1 process x $cores threads: $(awk -v a="$threaded" -v b="$shared" 'BEGIN { printf "%.2f", a / b }')x (above 1: the ranks are faster)"
