#!/usr/bin/env bash
# The matching paper's depth experiment as a curriculum: models of L = 2.. layers learn 1-hop
# problems first, then 1–2 hops, then 1–3, ..., each stage a `mechlens sweep` that starts every run
# from the previous stage's run of the same name (--init-from-dir; fresh optimiser and schedule).
# The problems state their hop count as a token after the start node (the depth grid's layout,
# single_chain_with_order), so mixed hop counts are well posed.
#
# Each stage is its own sweep folder, OUT_DIR/stage-K (K = the largest hop count in its mix), with
# its sweep.h5, runs.csv and conditions.csv; the last stage's tables answer "how many hops does
# each depth reach". Like a sweep, the script is resumable: run the same command again to continue
# an interrupted stage; finished stages are reused.
#
# usage: scripts/depth_curriculum.sh OUT_DIR [LAYERS [MAX_ORDER [STEPS [SEEDS]]]] [-- SWEEP_OPTIONS...]
#   LAYERS     model depths, comma-separated (default 2,3,4)
#   MAX_ORDER  the last stage's largest hop count (default 4)
#   STEPS      optimiser steps per stage (default 2000; warm-up 200 unless SWEEP_OPTIONS set --warmup)
#   SEEDS      seeds, comma-separated (default 0)
#   SWEEP_OPTIONS  passed to every stage (e.g. --batch 256, --device cuda)
#   MECHLENS   the mechlens binary (default build/src/cli/mechlens)
#   MECHLENS_LAUNCHER  a launcher for each stage, e.g. "mpirun -n 2" (runs dealt to the ranks)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mechlens=${MECHLENS:-$root/build/src/cli/mechlens}
[ $# -ge 1 ] && [ "$1" != "--" ] || { sed -n '13,20p' "$0" >&2; exit 2; }
read -r -a launcher <<<"${MECHLENS_LAUNCHER:-}"
out=$1
shift
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1") && shift; done
[ "${1:-}" = "--" ] && shift
layers=${positional[0]:-2,3,4} max_order=${positional[1]:-4} steps=${positional[2]:-2000} seeds=${positional[3]:-0}
[[ $max_order =~ ^[1-9][0-9]*$ ]] || { echo "depth_curriculum: MAX_ORDER '$max_order' is not a hop count >= 1" >&2; exit 2; }
mkdir -p "$out"
warmup=(--warmup 200)
for option in "$@"; do [[ $option == --warmup* ]] && warmup=(); done

orders=""
previous=""
for k in $(seq 1 "$max_order"); do
  orders=${orders:+$orders,}$k
  stage="$out/stage-$k"
  echo "depth_curriculum: stage $k of $max_order, hops $orders, L = $layers -> $stage" >&2
  from=()
  [ -n "$previous" ] && from=(--init-from-dir "$previous")
  # The depth grid's task (the hop count as a token after the start node), with this stage's orders.
  "${launcher[@]}" "$mechlens" sweep --grid depth --vary "n_layers=$layers" --seeds "$seeds" --task-option "orders=$orders" \
    --steps "$steps" "${warmup[@]}" "${from[@]}" --out-dir "$stage" "$@"
  previous=$stage
done
echo "depth_curriculum: done; the last stage's tables are $previous/runs.csv and $previous/conditions.csv" >&2
