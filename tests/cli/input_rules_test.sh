#!/usr/bin/env bash
# Rules every command keeps with bad input: a clear error naming the file, field or option, exit 1
# (bad data) or 2 (bad usage), no crash, no hang, and nothing left at --out looking complete. Also one
# writer per output: a second writer gets a lock error and the first completes intact.
# usage: input_rules_test.sh MECHLENS_BIN WORK_DIR
set -uo pipefail
mechlens=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"

cat >"$work/small.json" <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "n_ctx": 16, "d_vocab": 50, "seed": 1}
JSON
ck="$work/small.safetensors"
"$mechlens" init --config "$work/small.json" --out "$ck" >/dev/null

# Configs: nesting, duplicated keys, sizes that overflow or do not fit, all before any allocation.
"$python" -c "print('{\"n_layers\": ' + '[' * 100000 + ']' * 100000 + '}')" >"$work/deep.json"
expect deep-json 1 "deep.json: JSON nests 100001 levels deep, expected at most 64" -- "$mechlens" init --config "$work/deep.json" --out "$work/x.safetensors"
echo '{"n_layers": 2, "n_layers": 3}' >"$work/dup.json"
expect duplicate-key 1 "dup.json: key 'n_layers' is given twice" -- "$mechlens" init --config "$work/dup.json" --out "$work/x.safetensors"
echo '{"n_layers": 10000000, "d_model": 1024, "d_mlp": 4096, "n_heads": 8, "d_head": 128}' >"$work/huge.json"
expect huge-model 1 "GB for its .* parameters .*more than this machine's" -- timeout 20 "$mechlens" init --config "$work/huge.json" --out "$work/x.safetensors"
echo '{"d_vocab": 1000000000000}' >"$work/vocab.json"
expect huge-vocab 1 "config field 'd_vocab' is 1000000000000, expected 1..2147483648" -- "$mechlens" init --config "$work/vocab.json" --out "$work/x.safetensors"
expect config-dir 1 "is not a regular file, expected a JSON file" -- "$mechlens" init --config "$work" --out "$work/x.safetensors"
expect checkpoint-dir 1 "is a directory, expected a safetensors file" -- "$mechlens" info "$work"
[ ! -e "$work/x.safetensors" ] && ok || bad "init left x.safetensors"

# Option values: junk after numbers, negative or inconsistent training settings, huge counts.
echo "1 2 3" >"$work/p.txt"
expect gzip-junk 2 "gzip level must be an integer 1..9, got 'gzip:4x'" -- "$mechlens" record --checkpoint "$ck" --task logic --n 2 --hooks hook_embed --compress gzip:4x --out "$work/r.h5"
expect logop-junk 1 "logop_share=0.5x is not a number" -- "$mechlens" data --task logic --task-option logop_share=0.5x --n 2
expect n-huge 2 "--n is 1000000000000, expected 1..10000000" -- "$mechlens" data --task logic --n 1000000000000
for bad in "--warmup -1" "--grad-clip -1" "--eval-every -5" "--checkpoint-every -1" "--seed -3" "--lr -1" "--min-lr 0.1 --lr 0.01" "--batch 99999999999"; do
  name=${bad%% *}
  expect "train$name" 2 "${name#--}" -- "$mechlens" train --task logic --config "$work/small.json" --out "$work/t.safetensors" $bad --steps 1 --quiet
done
expect train-steps-huge 2 "--steps is 100000000000000, expected 1..1000000000" -- "$mechlens" train --task logic --config "$work/small.json" --out "$work/t.safetensors" --steps 100000000000000 --quiet
[ ! -e "$work/t.safetensors" ] && ok || bad "train left t.safetensors"
expect n-without-task 2 "--n applies to task prompts only" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --n 5 --hooks hook_embed --out "$work/r.h5"
expect option-without-task 2 "--task-option applies to task prompts only" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --task-option depth=2 --hooks hook_embed --out "$work/r.h5"
expect answer-pos-with-task 2 "--answer-pos applies to --clean/--corrupted files" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 --answer-pos 3
mkdir -p "$work/outdir"
expect record-out-dir 2 "--out '.*outdir' is a directory" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --hooks hook_embed --out "$work/outdir"
expect data-out-dir 2 "--out '.*outdir' is a directory" -- "$mechlens" data --task logic --n 2 --out "$work/outdir"

# Outputs are never replaced silently; unknown options get the closest known one.
"$mechlens" data --task logic --n 2 --out "$work/exists.txt" >/dev/null
cp "$work/exists.txt" "$work/exists.before"
expect out-exists 2 "--out '.*exists.txt' exists; add --force to replace it" -- "$mechlens" data --task logic --n 3 --out "$work/exists.txt"
cmp -s "$work/exists.txt" "$work/exists.before" && ok || bad "a refused run changed exists.txt"
expect out-force 0 "wrote 3 examples" -- "$mechlens" data --task logic --n 3 --out "$work/exists.txt" --force
expect did-you-mean 2 "unrecognised option '--n-examples'; did you mean --n\?" -- "$mechlens" data --task logic --n-examples 3
expect did-you-mean-typo 2 "did you mean --checkpoint\?" -- "$mechlens" patch --chekpoint "$ck"
# A checkpoint may come first, without --checkpoint, as in `info`; other bare arguments are named.
expect checkpoint-first 0 "^ *L1H0 " -- "$mechlens" match "$ck" --tokens 1:20
expect stray-argument 2 "unexpected argument 'extra' \(options are written --name VALUE\)" -- "$mechlens" match "$ck" extra
expect stray-list 2 "unexpected argument '2' after --tokens 1: an option takes one value; give a list as one argument \('1 2 \.\.\.' or 1,2,\.\.\.\)" -- "$mechlens" run "$ck" --tokens 1 2 3
expect stray-argument-no-input 2 "unexpected argument 'logic'" -- "$mechlens" data logic --n 2
expect checkpoint-twice 2 "'--checkpoint' cannot be specified more than once" -- "$mechlens" heads "$ck" --checkpoint "$ck"

expect task-of-checkpoint 2 "logic_3l3h.safetensors was trained on the logic task \(its metadata records task=logic\)" -- \
  "$mechlens" patch --checkpoint "$(dirname "$0")/../../data/checkpoints/logic_3l3h.safetensors" --task matching --n 2

expect run-json-cache 0 "^ok$" -- bash -c "'$mechlens' run --checkpoint '$ck' --tokens '1 2 3' --format json --cache pattern | '$python' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"cache\"][0][\"name\"]==\"blocks.0.attn.hook_pattern\" and d[\"cache\"][0][\"shape\"]==[1,4,3,3], d; print(\"ok\")'"

# The CLI itself: help, version, verbose locations.
expect help-command 0 "usage: mechlens patch" -- "$mechlens" help patch
expect version 0 "^mechlens [0-9]+\.[0-9]+\.[0-9]+$" -- "$mechlens" --version
expect version-flavour 0 "^LibTorch: (Debian LibTorch 1\.|LibTorch .*from )" -- "$mechlens" --version
expect version-cuda 0 "^CUDA backend: (none in this flavour|.*libtorch_cuda\.so \(loaded by --device cuda\))" -- "$mechlens" --version
# --threads: the intra-op threads, anywhere on the line, recorded in each result's `threads` attribute.
expect threads-zero 2 "^mechlens: --threads takes a whole number of threads from 1 to 4096, got '0'$" -- "$mechlens" --threads 0 info "$ck"
expect threads-junk 2 "got '2x'" -- "$mechlens" info "$ck" --threads=2x
expect threads-missing 2 "--threads needs a number of threads" -- "$mechlens" info "$ck" --threads
for threads in 1 2; do
  rm -f "$work/threads.h5"
  "$mechlens" record --checkpoint "$ck" --tokens '1 2 3' --hooks hook_embed --out "$work/threads.h5" --quiet --threads "$threads" >/dev/null
  expect "threads-$threads-recorded" 0 "^$threads$" -- "$python" -c "import h5py; print(h5py.File('$work/threads.h5')['/'].attrs['threads'])"
done
expect quiet-location 1 "no such file, expected a JSON file$" -- "$mechlens" init --config "$work/none.json" --out "$work/x.safetensors"
expect verbose-location 1 "no such file, expected a JSON file \[.*json_text.cpp:[0-9]+\]" -- "$mechlens" init --config "$work/none.json" --out "$work/x.safetensors" --verbose

# Damaged records: a missing group or dataset is named, never an uncaught HDF5 exception.
"$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --hooks hook_embed --out "$work/good.h5" --quiet >/dev/null
for damage in acts tokens lengths; do
  cp "$work/good.h5" "$work/no_$damage.h5"
  "$python" -c "import h5py; f = h5py.File('$work/no_$damage.h5', 'a'); del f['$damage']"
  expect "record-without-$damage" 1 "no_$damage.h5: no (group|dataset) /$damage" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/no_$damage.h5" --hooks hook_embed --out "$work/r2.h5"
done
cp "$work/good.h5" "$work/zero_length.h5"
"$python" -c "import h5py; f = h5py.File('$work/zero_length.h5', 'a'); f['lengths'][0] = 0"
expect record-zero-length 1 "zero_length.h5: /lengths holds values 0..0, expected 1..3" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/zero_length.h5" --hooks hook_embed --out "$work/r2.h5"
[ ! -e "$work/r2.h5" ] && ok || bad "a refused record left r2.h5"

# One writer per output: a second record to the same --out is refused while the first runs, and the
# first completes intact.
"$python" -c "
import random
random.seed(1)
print('\n'.join(' '.join(str(random.randrange(50)) for _ in range(16)) for _ in range(3000)))" >"$work/many.txt"
"$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" --hooks 'blocks.*.attn.hook_pattern' --batch 1 --out "$work/busy.h5" --quiet >/dev/null 2>&1 &
first=$!
for _ in $(seq 1 500); do [ -e "$work/busy.h5.partial" ] && break; sleep 0.01; done
expect second-writer 1 "another mechlens is writing this output" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --hooks hook_embed --out "$work/busy.h5"
expect resume-while-running 1 "another mechlens is writing this output" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/many.txt" --hooks 'blocks.*.attn.hook_pattern' --batch 1 --out "$work/busy.h5" --resume
wait "$first"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "first writer exited $rc"
expect first-writer-intact 0 "^3000$" -- "$python" -c "import h5py; f = h5py.File('$work/busy.h5'); print(int(f.attrs['n_complete']) if f.attrs['complete'] == 1 else -1)"

# Devices: a GPU this build or machine cannot use is refused before a checkpoint is read, with the
# reason and the remedy, and nothing is written; --device cpu is the default's result exactly.
no_gpu="--device cuda(:1)?: (this build's LibTorch \(.*\) has no CUDA backend; build the LibTorch 2 flavour|cannot load LibTorch's CUDA backend|no CUDA GPU is visible)"
expect device-cuda-record 1 "$no_gpu" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/p.txt" --hooks hook_embed --device cuda --out "$work/gpu.h5"
[ ! -e "$work/gpu.h5" ] && [ ! -e "$work/gpu.h5.partial" ] && ok || bad "a refused --device left gpu.h5"
expect device-cuda-index 1 "$no_gpu" -- "$mechlens" run --checkpoint "$ck" --tokens '1 2 3' --device cuda:1
expect device-unknown 1 "--device 'tpu': expected cpu, cuda or cuda:N" -- "$mechlens" run --checkpoint "$ck" --tokens '1 2 3' --device tpu
expect device-cpu-only 2 "--device cuda: this command's analyses run on the CPU for now" -- "$mechlens" trace --checkpoint "$ck" --tokens-file "$work/p.txt" --device cuda
expect f16-on-cpu 2 "--model-dtype f16 runs on a GPU only .* use bf16 on the CPU" -- "$mechlens" run --checkpoint "$ck" --tokens '1 2 3' --model-dtype f16
expect device-cpu-same 0 "^same$" -- bash -c "[ \"\$('$mechlens' run --checkpoint '$ck' --tokens '1 2 3' --format json)\" = \"\$('$mechlens' run --checkpoint '$ck' --tokens '1 2 3' --format json --device cpu)\" ] && echo same"

echo "input rules: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
