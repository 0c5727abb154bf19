#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and a CUDA build of PyTorch 2.x (C++11 ABI) for
# python3, builds the LibTorch 2 flavour against that wheel's torch/ folder (or MECHLENS_TORCH_DIR),
# runs the runtime's tests there (the device tests then resolve the GPU), and runs each command
# that takes --device on the shipped checkpoints twice, on the CPU and on the GPU: record, patch,
# eval and train. Results are compared dataset by dataset (scripts/compare_results.py; float32
# within 1e-4, bf16 within its precision) and timed; the summary goes to OUT_DIR/gpu_check.txt.
# Needs mechlens's build dependencies (scripts/setup.sh) but no CUDA toolkit.
#
# usage: scripts/check_gpu.sh [OUT_DIR]
#   MECHLENS_GPU_DEVICE  device under test (default cuda; cpu checks the script itself)
#   MECHLENS_BUILD_DIR   an already configured build to use as it is (default: configure build-gpu)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/gpu-check}" && cd "${1:-$root/gpu-check}" && pwd)
device=${MECHLENS_GPU_DEVICE:-cuda}
python=${MECHLENS_GPU_PYTHON:-python3}
summary="$out/gpu_check.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

if [ -n "${MECHLENS_BUILD_DIR:-}" ]; then
  build=$MECHLENS_BUILD_DIR
else
  build="$root/build-gpu"
  torch_dir=${MECHLENS_TORCH_DIR:-$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
  say "torch: $torch_dir ($("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'))"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMECHLENS_TORCH_DIR="$torch_dir" \
    -DMECHLENS_MPI=OFF -DMECHLENS_BUILD_BENCH=OFF >"$out/configure.log" 2>&1
  start=$(date +%s)
  cmake --build "$build" -j "$(nproc)" --target mechlens runtime_test >"$out/build.log" 2>&1
  say "build: $(($(date +%s) - start)) s on $(nproc) cores"
fi
mechlens="$build/src/cli/mechlens"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader |
  sed 's/^/gpu: /' | tee -a "$summary"

status=0
check() {  # check NAME COMMAND...: runs, records the exit status
  if "${@:2}" >>"$out/$1.log" 2>&1; then say "$1: ok"; else say "$1: FAILED (see $1.log)"; status=1; fi
}
run_on() {  # run_on LOG DEVICE ARGS...: mechlens ARGS --device DEVICE; sets $seconds
  local log=$1 dev=$2 start
  shift 2
  start=$(date +%s.%N)
  "$mechlens" "$@" --device "$dev" >>"$out/$log.log" 2>&1 || { say "$log: FAILED (see $log.log)"; status=1; }
  seconds=$(echo "$start $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
}

# First, alone in its process (LibTorch decides once whether CUDA is there): --device resolves the GPU.
[ "$device" = cpu ] || MECHLENS_EXPECT_GPU=1 check device_test "$build/tests/runtime_test" --gtest_filter='DeviceTest.*'
OMP_NUM_THREADS=1 check runtime_tests "$build/tests/runtime_test" --gtest_brief=1

logic="$root/data/checkpoints/logic_3l3h.safetensors"
matching="$root/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors"
rm -f "$out"/*.h5 "$out"/*.safetensors "$out"/*.state "$out"/*.csv
for dev in cpu "$device"; do
  tag=$([ "$dev" = cpu ] && [ -z "${done_cpu:-}" ] && echo cpu || echo dev)
  done_cpu=1
  run_on "record_$tag" "$dev" record --checkpoint "$logic" --task logic --n 512 --batch 64 \
    --hooks 'blocks.*.attn.hook_pattern' 'blocks.*.hook_resid_post' 'blocks.*.attn.hook_z' \
    --out "$out/record_$tag.h5" --quiet
  t_record=$seconds
  run_on "patch_$tag" "$dev" patch --checkpoint "$logic" --task logic --n 256 --component head_z,resid_pre \
    --out "$out/patch_$tag.h5" --quiet
  t_patch=$seconds
  run_on "eval_$tag" "$dev" eval --checkpoint "$matching" --task matching --n 500 --hops --quiet
  t_eval=$seconds
  run_on "eval_$tag" "$dev" eval --checkpoint "$logic" --task logic --n 500 --ablate L1H0,L2H1 --ablation-kind mean \
    --quiet
  run_on "train_$tag" "$dev" train --task matching --config "$root/data/configs/matching_3l1h_post_ln_gamma1.json" \
    --steps 60 --batch 256 --eval-every 30 --out "$out/train_$tag.safetensors" --log "$out/train_$tag.csv" --quiet
  t_train=$seconds
  say "$dev ($tag): record ${t_record} s, patch ${t_patch} s, eval ${t_eval} s, train ${t_train} s"
done
tag=dev
"$python" "$root/scripts/compare_results.py" "$out/record_cpu.h5" "$out/record_$tag.h5" >"$out/compare_record.txt" &&
  say "record: $device equals cpu within 1e-4" || { say "record: $device DIFFERS from cpu (compare_record.txt)"; status=1; }
"$python" "$root/scripts/compare_results.py" "$out/patch_cpu.h5" "$out/patch_$tag.h5" --atol 1e-3 >"$out/compare_patch.txt" &&
  say "patch: $device equals cpu within 1e-3" || { say "patch: $device DIFFERS from cpu (compare_patch.txt)"; status=1; }
# eval prints accuracies to 3 decimals: the two devices print the same table.
if diff <(grep -v "seconds\|tokens/s" "$out/eval_cpu.log") <(grep -v "seconds\|tokens/s" "$out/eval_$tag.log") >"$out/compare_eval.txt"; then
  say "eval: $device prints cpu's table"
else
  say "eval: $device's table differs (compare_eval.txt)"
  status=1
fi
# Training diverges slowly between devices (other summation orders): the losses after 60 steps agree
# to 1%, and the run wrote a checkpoint and its optimiser state.
"$python" - "$out/train_cpu.csv" "$out/train_$tag.csv" <<'PY' | tee -a "$summary" || status=1
import csv, sys
rows = [list(csv.DictReader(open(path)))[-1] for path in sys.argv[1:]]
a, b = (float(r["train_loss"]) for r in rows)
print(f"train: loss after {rows[0]['step']} steps {a:.5f} (cpu) vs {b:.5f}, relative {abs(a - b) / abs(a):.2e}")
sys.exit(0 if abs(a - b) <= 0.01 * abs(a) else 1)
PY
[ -f "$out/train_$tag.safetensors.state" ] && say "train: optimiser state written" || { say "train: no optimiser state"; status=1; }

# The commands that refuse a GPU until this check passes for them (MECHLENS_GPU_UNCHECKED=1 lets them
# try): each runs on both devices and its HDF5 results are compared.
unchecked() {  # unchecked NAME MECHLENS-ARGS... (without --out)
  local name=$1
  shift
  for dev in cpu "$device"; do
    local tag=$([ "$dev" = cpu ] && [ "${name}_cpu" != "${last_cpu:-}" ] && echo cpu || echo dev)
    last_cpu=${name}_cpu
    MECHLENS_GPU_UNCHECKED=1 run_on "${name}_$tag" "$dev" "$@" --out "$out/${name}_$tag.h5"
    say "$dev ($tag): $name ${seconds} s"
  done
  "$python" "$root/scripts/compare_results.py" "$out/${name}_cpu.h5" "$out/${name}_dev.h5" --atol 1e-3 --rtol 1e-3 \
    >"$out/compare_$name.txt" && say "$name: $device equals cpu within 1e-3: ready to take --device" ||
    { say "$name: $device DIFFERS from cpu or failed (compare_$name.txt, ${name}_dev.log)"; status=1; }
}
unchecked heads heads --checkpoint "$matching" --task matching --n 200 --quiet
unchecked trace trace --checkpoint "$logic" --task logic --n 24 --group-by queried_chain --verify --quiet
unchecked steer steer --checkpoint "$logic" --task logic --n 300 --layer 1 --at query \
  --direction mean-diff:queried_chain --alphas=-8,0,2 --decode --quiet
unchecked probe probe --checkpoint "$logic" --task logic --n 600 --label queried_chain --at query
unchecked match match --checkpoint "$matching" --task matching --task-option orders=2 --n 100 --quiet

if [ "$device" != cpu ]; then
  # Half precisions on the GPU: bf16 and f16 records against the float32 CPU record.
  for dtype in bf16 f16; do
    run_on "record_$dtype" "$device" record --checkpoint "$logic" --task logic --n 512 --batch 64 \
      --hooks 'blocks.*.attn.hook_pattern' 'blocks.*.hook_resid_post' --model-dtype "$dtype" \
      --out "$out/record_$dtype.h5" --quiet
    "$python" "$root/scripts/compare_results.py" "$out/record_cpu.h5" "$out/record_$dtype.h5" --rtol 0.05 --atol 0.05 \
      --skip provenance blocks.0.attn.hook_z blocks.1.attn.hook_z blocks.2.attn.hook_z >"$out/compare_$dtype.txt" &&
      say "record --model-dtype $dtype on $device: within 5% of cpu float32" ||
      { say "record --model-dtype $dtype on $device: beyond 5% (compare_$dtype.txt)"; status=1; }
  done
fi
say "gpu check: $([ $status -eq 0 ] && echo passed || echo FAILED)"
exit $status
