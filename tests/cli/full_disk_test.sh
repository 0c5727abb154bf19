#!/usr/bin/env bash
# Every writer on a full disk (a small tmpfs): a clear error (exit 1, naming the output), no crash,
# and nothing at --out. Needs root to mount the tmpfs; exits 77 (skipped) where mounting is not allowed.
# usage: full_disk_test.sh MECHLENS_BIN WORK_DIR
set -uo pipefail
mechlens=$1 work=$2
rm -rf "$work" && mkdir -p "$work/disk"
source "$(dirname "$0")/../expect.sh"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=1m tmpfs "$work/disk" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$work/disk" 2>/dev/null' EXIT
disk="$work/disk"

cat >"$work/small.json" <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "n_ctx": 64, "d_vocab": 50, "seed": 1}
JSON
cat >"$work/big.json" <<'JSON'
{"n_layers": 4, "d_model": 256, "n_heads": 4, "d_head": 64, "d_mlp": 1024, "n_ctx": 80, "d_vocab": 50, "seed": 1}
JSON
ck="$work/small.safetensors"
"$mechlens" init --config "$work/small.json" --out "$ck" >/dev/null
python3 -c "
import random
random.seed(2)
print('\n'.join(' '.join(str(random.randrange(45)) for _ in range(60)) for _ in range(400)))" >"$work/prompts.txt"

# full NAME REGEX OUTPUT -- command...: exit 1 with REGEX, and nothing at OUTPUT (nor OUTPUT.lock held).
full() {
  local name=$1 regex=$2 output=$3
  shift 4
  rm -rf "${disk:?}"/*
  expect "$name" 1 "$regex" -- "$@"
  [ ! -e "$output" ] && ok || bad "$name left $output"
}
full init-full "write failed|disk full|No space" "$disk/big.safetensors" -- "$mechlens" init --config "$work/big.json" --out "$disk/big.safetensors"
full record-full "disk full" "$disk/r.h5" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" --hooks 'blocks.*.attn.hook_pattern' --out "$disk/r.h5" --quiet
full record-gzip-full "disk full" "$disk/g.h5" -- "$mechlens" record --checkpoint "$ck" --tokens-file "$work/prompts.txt" --hooks 'blocks.*.attn.hook_pattern' --compress gzip:1 --out "$disk/g.h5" --quiet
full data-h5-full "disk full|cannot" "$disk/d.h5" -- "$mechlens" data --task logic --n 20000 --out "$disk/d.h5"
full data-txt-full "write failed \(disk full\?\)|cannot write to disk" "$disk/d.txt" -- "$mechlens" data --task logic --n 20000 --out "$disk/d.txt"
full save-cache-full "write failed|disk full" "$disk/c.safetensors" -- "$mechlens" run --checkpoint "$ck" --tokens-file "$work/prompts.txt" --cache '*' --save-cache "$disk/c.safetensors"
full save-cache-h5-full "disk full|cannot|failed" "$disk/c.h5" -- "$mechlens" run --checkpoint "$ck" --tokens-file "$work/prompts.txt" --cache '*' --save-cache "$disk/c.h5"
# A disk with room for the inputs' few kilobytes but not for the results.
fill() { rm -rf "${disk:?}"/*; head -c $((1024 * 1024 - $1)) /dev/zero >"$disk/filler" 2>/dev/null; }
fill 8192
expect patch-full 1 "p.h5(.shards/[^:]*)?: .*(disk full|cannot)" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 64 --component heads_all --quiet --out "$disk/p.h5"
[ ! -e "$disk/p.h5" ] && ok || bad "patch left p.h5"
fill 4096
expect patch-json-full 1 "j.json: write failed|j.json: cannot" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 64 --component head_z --quiet --json "$disk/j.json"
[ ! -e "$disk/j.json" ] && ok || bad "patch left j.json"
rm -rf "${disk:?}"/*
cp "$ck" "$disk/t.safetensors"
fill $((200 * 1024))
cp "$ck" "$disk/t.safetensors"
expect train-full 1 "t.safetensors.*(write failed|disk full|cannot)" -- "$mechlens" train --task logic --config "$work/big.json" --out "$disk/t.safetensors" --force --steps 2 --eval-n 4 --quiet
cmp -s "$ck" "$disk/t.safetensors" && ok || bad "train on a full disk damaged the previous checkpoint"

echo "full disk: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
