#!/usr/bin/env bash
# Training throughput of `mechlens train` against the same model, examples, batch and optimiser as a
# plain PyTorch loop (Debian's python3-torch: the same LibTorch underneath), run one after the other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=mechlens bash "$root/scripts/build.sh"
steps=${STEPS:-150} batch=${BATCH:-64}
config="$root/data/configs/logic_3l3h.json"
work=$(mktemp -d)
python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$build/src/cli/mechlens" data --task logic --n $((steps * batch)) --seed 0 --out "$work/data.h5" --show 0 >/dev/null
threads=${THREADS:-$(nproc)}  # both sides get the same number of threads
repeats=${REPEATS:-3}
# Interleaved runs (ours, theirs, ours, ...): the machines are noisy, so each pair gives a ratio and
# the median ratio is reported.
ratios=()
for ((i = 1; i <= repeats; i++)); do
  ours=$(MECHLENS_NUM_THREADS=$threads "$build/src/cli/mechlens" train --task logic --config "$config" --out "$work/ck.safetensors" --force --steps "$steps" \
    --batch "$batch" --eval-every 0 --eval-n 16 --checkpoint-every 0 --seed 0 --quiet | head -1)
  theirs=$(OMP_NUM_THREADS=$threads "$python" "$root/bench/train_baseline.py" "$work/data.h5" "$config" --steps "$steps" --batch "$batch")
  echo "run $i mechlens: $ours"
  echo "run $i $theirs"
  a=$(sed -E 's/.*\(([0-9]+) tokens\/s\).*/\1/' <<<"$ours")
  b=$(sed -E 's/.*tokens_per_s=([0-9]+).*/\1/' <<<"$theirs")
  ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')")
done
echo "training throughput, mechlens / plain PyTorch, per run: ${ratios[*]}"
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { printf "median: %.2fx\n", r[int((NR + 1) / 2)] }'
rm -rf "$work"
