#!/usr/bin/env bash
# The matching paper's depth experiment as a curriculum: models of L = 2.. layers learn 1-hop
# problems first, then 1–2 hops, then 1–3, ..., each stage a `mechlens sweep` that starts every run
# from the previous stage's run of the same name (--init-from-dir; fresh optimiser and schedule).
# The problems state their hop count as a token after the start node (the depth grid's layout,
# single_chain_with_order), so mixed hop counts are well posed.
#
# From scratch, models sit on a plateau in that layout (docs/MATCHING.md, "Depth"), so a stage 0
# first trains 1-hop problems in the plain layout (start node last, no hop count; one token shorter,
# the same edges), which forms the previous-token head the later stages need.
#
# Each stage is its own sweep folder, OUT_DIR/stage-K (K = the largest hop count in its mix; 0 for the
# plain stage), with its sweep.h5, runs.csv and conditions.csv; the last stage's tables answer "how
# many hops does each depth reach". Like a sweep, the script is resumable: run the same command again
# to continue an interrupted stage; finished stages are reused. FROM_STAGE continues a curriculum from
# a finished stage folder kept elsewhere (e.g. the weights under data/sweeps/depth-curriculum).
#
# usage: scripts/depth_curriculum.sh OUT_DIR [LAYERS [MAX_ORDER [STEPS [SEEDS]]]] [-- SWEEP_OPTIONS...]
#   LAYERS     model depths, comma-separated (default 2,3,4)
#   MAX_ORDER  the last stage's largest hop count (default 4)
#   STEPS      optimiser steps per stage: one number for every stage, or one per stage, comma-separated,
#              stage 0 first (default 2000; warm-up 200 unless SWEEP_OPTIONS set --warmup)
#   SEEDS      seeds, comma-separated (default 0)
#   SWEEP_OPTIONS  passed to every stage (e.g. --batch 256, --device cuda)
#   PLAIN_START  0 skips stage 0 and starts in the hop-count layout from scratch (default 1)
#   FROM_STAGE   a finished stage folder, DIR/stage-K (its sweep.json, NAME.safetensors and
#                NAME.train_log.csv per run): stages K+1..MAX_ORDER start from it; STEPS then lists
#                those stages only
#   MECHLENS   the mechlens binary (default build/src/cli/mechlens)
#   MECHLENS_LAUNCHER  a launcher for each stage, e.g. "mpirun -n 2" (runs dealt to the ranks)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mechlens=${MECHLENS:-$root/build/src/cli/mechlens}
[ $# -ge 1 ] && [ "$1" != "--" ] || { sed -n '18,30p' "$0" >&2; exit 2; }
read -r -a launcher <<<"${MECHLENS_LAUNCHER:-}"
out=$1
shift
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1") && shift; done
[ "${1:-}" = "--" ] && shift
layers=${positional[0]:-2,3,4} max_order=${positional[1]:-4} steps=${positional[2]:-2000} seeds=${positional[3]:-0}
[[ $max_order =~ ^[1-9][0-9]*$ ]] || { echo "depth_curriculum: MAX_ORDER '$max_order' is not a hop count >= 1" >&2; exit 2; }
plain_start=${PLAIN_START:-1}
[[ $plain_start =~ ^[01]$ ]] || { echo "depth_curriculum: PLAIN_START '$plain_start' is not 0 or 1" >&2; exit 2; }
first_stage=$((1 - plain_start))
from_stage=${FROM_STAGE:-}
if [ -n "$from_stage" ]; then
  from_stage=${from_stage%/}
  [[ $(basename "$from_stage") =~ ^stage-([0-9]+)$ ]] ||
    { echo "depth_curriculum: FROM_STAGE '$from_stage' is not a stage folder (expected DIR/stage-K)" >&2; exit 2; }
  first_stage=$((BASH_REMATCH[1] + 1))
  [ -f "$from_stage/sweep.json" ] ||
    { echo "depth_curriculum: FROM_STAGE '$from_stage' has no sweep.json (expected a finished mechlens sweep)" >&2; exit 2; }
  [ "$first_stage" -le "$max_order" ] ||
    { echo "depth_curriculum: FROM_STAGE '$from_stage' is stage $((first_stage - 1)); MAX_ORDER $max_order leaves nothing to run" >&2; exit 2; }
fi
n_stages=$((max_order - first_stage + 1))
IFS=, read -r -a stage_steps <<<"$steps"
for s in "${stage_steps[@]}"; do
  [[ $s =~ ^[1-9][0-9]*$ ]] || { echo "depth_curriculum: STEPS '$steps': '$s' is not a step count >= 1" >&2; exit 2; }
done
if [ "${#stage_steps[@]}" -eq 1 ]; then
  for _ in $(seq 2 "$n_stages"); do stage_steps+=("${stage_steps[0]}"); done
elif [ "${#stage_steps[@]}" -ne "$n_stages" ]; then
  echo "depth_curriculum: STEPS '$steps' has ${#stage_steps[@]} values; expected one, or $n_stages (stages $first_stage..$max_order)" >&2
  exit 2
fi
mkdir -p "$out"
warmup=(--warmup 200)
type3_len=14  # the depth grid's prompt: 6 edges, the start node and the hop count
for option in "$@"; do
  [[ $option == --warmup* ]] && warmup=()
  [[ $option =~ ^(--task-option=)?seq_len=([0-9]+)$ ]] && type3_len=${BASH_REMATCH[2]}
done

# Stage K's mix is hops 1..K: a curriculum continued from stage K starts with that mix.
orders=""
previous=""
if [ -n "$from_stage" ]; then
  for k in $(seq 1 $((first_stage - 1))); do orders=${orders:+$orders,}$k; done
  previous=$from_stage
fi
for k in $(seq "$first_stage" "$max_order"); do
  stage="$out/stage-$k"
  from=()
  [ -n "$previous" ] && from=(--init-from-dir "$previous")
  if [ "$k" -eq 0 ]; then
    # Plain layout, 1 hop: the same edges without the hop-count token. Its options come last, so they
    # replace any of SWEEP_OPTIONS.
    task=(--task-option layout=single_chain --task-option "seq_len=$((type3_len - 1))" --task-option orders=1)
    what="1 hop, plain layout (start node last)"
  else
    orders=${orders:+$orders,}$k
    # The depth grid's task (the hop count as a token after the start node), with this stage's orders.
    task=(--task-option "orders=$orders")
    what="hops $orders, hop count as a token"
  fi
  echo "depth_curriculum: stage $k of $max_order, $what, L = $layers, ${stage_steps[k - first_stage]} steps -> $stage" >&2
  "${launcher[@]}" "$mechlens" sweep --grid depth --vary "n_layers=$layers" --seeds "$seeds" \
    --steps "${stage_steps[k - first_stage]}" "${warmup[@]}" "${from[@]}" --out-dir "$stage" "$@" "${task[@]}"
  previous=$stage
done
echo "depth_curriculum: done; the last stage's tables are $previous/runs.csv and $previous/conditions.csv" >&2
