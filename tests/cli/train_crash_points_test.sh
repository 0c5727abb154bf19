#!/usr/bin/env bash
# `mechlens train` killed just before any of its file writes or renames (checkpoint, optimiser state,
# log; the preload library tests/store/kill_after_writes.c) resumes with --resume to the same weights
# and the same log as a run never killed.
# usage: train_crash_points_test.sh MECHLENS_BIN SOURCE_DIR KILL_AFTER_WRITES_LIB WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 preload=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
source "$here/../expect.sh"
cd "$work" || exit 1

"$python" - "$source/data/configs/matching_3l1h_post_ln_gamma1.json" tiny.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(d_model=32, d_head=16, d_mlp=64)
json.dump(c, open(sys.argv[2], "w"))
PY
train=("$mechlens" train --task matching --config tiny.json --steps 8 --batch 8 --eval-every 4 --eval-n 8
       --checkpoint-every 4 --warmup 2 --out run/m.safetensors --log run/m.csv --quiet)
mkdir run && "${train[@]}" >/dev/null && mv run straight || bad "an uninterrupted run failed"
# Operations on the files in run/ (MECHLENS_KILL_PATHS) of a whole run.
mkdir run
operations=$(MECHLENS_KILL_PATHS=/run/ LD_PRELOAD=$preload "${train[@]}" 2>&1 >/dev/null |
  sed -n 's/^partial-file operations: //p')
[ "${operations:-0}" -ge 20 ] && ok || bad "the preload library counted ${operations:-no} file operations of a run"
for n in $(seq 0 $((operations - 1))); do
  rm -rf run && mkdir run
  MECHLENS_KILL_PATHS=/run/ MECHLENS_KILL_AFTER_WRITES=$n LD_PRELOAD=$preload "${train[@]}" >/dev/null 2>&1 &
  wait $! 2>/dev/null
  rc=$?
  [ "$rc" -eq 137 ] || bad "kill at operation $n: exit $rc"
  # No checkpoint yet: nothing to resume, the run starts over.
  resume=() && [ -e run/m.safetensors ] && resume=(--resume)
  out=$("${train[@]}" "${resume[@]}" 2>&1) || { bad "kill at operation $n: ${resume[*]:-rerun} failed: $out"; continue; }
  mv run "kept-$n"
done
expect all-identical 0 "^[0-9]+ runs equal the uninterrupted one$" -- "$python" - "$operations" <<'PY'
import json, struct, sys
def tensors(path):  # safetensors header (less its metadata, which names the command) and data
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    return header, data[8 + size:]
expected = tensors("straight/m.safetensors"), open("straight/m.csv").read()
count = int(sys.argv[1])
for n in range(count):
    got = tensors(f"kept-{n}/m.safetensors"), open(f"kept-{n}/m.csv").read()
    assert got[0] == expected[0], f"kill at operation {n}: other weights"
    assert got[1] == expected[1], f"kill at operation {n}: another log"
print(f"{count} runs equal the uninterrupted one")
PY
echo "train crash points: $operations"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
