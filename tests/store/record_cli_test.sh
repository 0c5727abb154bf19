#!/usr/bin/env bash
# `mechlens record` end to end: h5py reads what it writes, a killed run leaves no file at --out and
# --resume completes it identically, and bad inputs fail with clear messages and no output file.
# usage: record_cli_test.sh MECHLENS_BIN PYTHON WORK_DIR
set -uo pipefail
mechlens=$1 python=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
source "$here/../expect.sh"

cat >"$work/model.json" <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "n_ctx": 16, "d_vocab": 40, "seed": 5}
JSON
ck="$work/model.safetensors"
"$mechlens" init --config "$work/model.json" --out "$ck" >/dev/null
"$python" - "$work/prompts.txt" <<'PY'
import random, sys
random.seed(0)
with open(sys.argv[1], "w") as f:
    for i in range(23):
        f.write(" ".join(str(random.randrange(40)) for _ in range(random.randint(4, 16))) + "\n")
PY
hooks=(--hooks 'blocks.*.attn.hook_pattern' blocks.1.hook_resid_post blocks.0.attn.hook_z)
"$mechlens" run --checkpoint "$ck" --tokens-file "$work/prompts.txt" --cache "${hooks[@]:1}" \
  --save-cache "$work/cache.safetensors" >/dev/null

expect record-f32 0 "recorded 4 hooks over 23 prompts" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" "${hooks[@]}" --out "$work/full.h5" --batch 5 --quiet
expect h5py-f32 0 "0 failures" -- "$python" "$here/h5py_check.py" "$work/full.h5" "$work/cache.safetensors" "$ck" --dtype float32
expect record-f16-gzip 0 "recorded" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" "${hooks[@]}" --out "$work/half.h5" --dtype f16 --compress gzip:4 --quiet
expect h5py-f16 0 "0 failures" -- "$python" "$here/h5py_check.py" "$work/half.h5" "$work/cache.safetensors" "$ck" --dtype float16

# A run killed from outside (SIGKILL) once its first batches are on disk: nothing at --out, a
# .partial to resume. Many prompts, one per batch, so that the kill lands mid-run.
"$python" - "$work/prompts.txt" "$work/many.txt" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
open(sys.argv[2], "w").write("\n".join(lines * 100) + "\n")
PY
"$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" "${hooks[@]}" --out "$work/many_full.h5" --batch 1 --quiet >/dev/null
# Killed three times at growing sizes (the last two while resuming), wherever the kill lands.
kill_at() {  # kill_at BYTES [--resume]
  "$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" "${hooks[@]}" --out "$work/cut.h5" --batch 1 --quiet "${@:2}" >/dev/null 2>&1 &
  local pid=$! size
  for _ in $(seq 1 3000); do
    size=$(stat -c %s "$work/cut.h5.partial" 2>/dev/null || echo 0)
    [ "$size" -gt "$1" ] && break
    sleep 0.01
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
kill_at 200000
rc=$?
[ "$rc" -eq 137 ] && [ ! -e "$work/cut.h5" ] && [ -e "$work/cut.h5.partial" ] && ok || bad "killed run: rc=$rc, files: $(ls "$work")"
kill_at 3000000 --resume
kill_at 8000000 --resume
[ ! -e "$work/cut.h5" ] && ok || bad "a killed resume left cut.h5"
expect read-partial 1 "unfinished .*cut.h5.partial exists" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/cut.h5" --out "$work/x.h5"
expect resume-mismatch 1 "batch_size: file has 1, this run 4" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" "${hooks[@]}" --out "$work/cut.h5" --batch 4 --resume --quiet
expect resume 0 "recorded 4 hooks over 2300 prompts" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" "${hooks[@]}" --out "$work/cut.h5" --batch 1 --resume --quiet
[ ! -e "$work/cut.h5.partial" ] && ok || bad "partial file left after resume"
expect resume-identical 0 "^identical$" -- "$python" -c "
import h5py, numpy as np, sys
a, b = h5py.File('$work/many_full.h5'), h5py.File('$work/cut.h5')
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
same = all(np.array_equal(a[n][:], b[n][:]) for n in names) and len(names) > 3
print('identical' if same else 'different')"

# Prompts taken from an earlier record's /tokens give the same input hash.
expect tokens-from-h5 0 "recorded" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/full.h5" --hooks blocks.0.hook_resid_pre --out "$work/again.h5" --quiet
expect same-input 0 "^same$" -- "$python" -c "
import h5py
print('same' if h5py.File('$work/full.h5').attrs['input_sha256'] == h5py.File('$work/again.h5').attrs['input_sha256'] else 'differ')"

# Bad inputs: clear message, non-zero exit, nothing at --out.
echo "1 2 40" >"$work/bad_ids.txt"
expect bad-token 1 "token id 40 at \[batch 0, pos 2\] is out of range" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/bad_ids.txt" --out "$work/bad.h5"
seq -s ' ' 1 17 >"$work/long.txt"
expect long-prompt 1 "17 tokens, more than the model's n_ctx=16" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/long.txt" --out "$work/bad.h5"
: >"$work/empty.txt"
expect empty-input 1 "token file holds no prompts" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/empty.txt" --out "$work/bad.h5"
expect unknown-hook 1 "unknown hook 'blocks.0.hook_resid_pr'" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" --hooks blocks.0.hook_resid_pr --out "$work/bad.h5"
expect short-prompt 1 "--positions '-5:'" -- bash -c "echo '1 2 3' > '$work/short.txt'; '$mechlens' record --checkpoint '$ck' --tokens-file '$work/short.txt' --positions -5: --out '$work/bad.h5'"
expect bad-dtype 2 "--dtype must be f32 or f16" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" --dtype f8 --out "$work/bad.h5"
expect no-partial 1 "bad.h5.partial does not exist" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" --out "$work/bad.h5" --resume
cp "$work/full.h5" "$work/trunc.h5" && truncate -s 3000 "$work/trunc.h5"
expect truncated-input 1 "trunc.h5: .*truncated" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/trunc.h5" --out "$work/bad.h5"
[ ! -e "$work/bad.h5" ] && [ ! -e "$work/bad.h5.partial" ] && ok || bad "a failed run left $(ls "$work" | grep bad.h5)"

echo "record: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
