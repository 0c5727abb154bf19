#!/usr/bin/env bash
# `mechlens record` killed between any two of its file writes loses no complete batch: for every write
# and rename of a run, and of a resumed run, a SIGKILL just before it (the preload library kill_after_writes)
# leaves a partial file that --resume completes into a record equal to an uninterrupted one.
# usage: crash_points_test.sh MECHLENS_BIN PYTHON KILL_AFTER_WRITES_LIB WORK_DIR
set -uo pipefail
mechlens=$1 python=$2 preload=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/kept"
source "$here/../expect.sh"
cd "$work" || exit 1

cat >model.json <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "n_ctx": 16, "d_vocab": 40, "seed": 5}
JSON
"$mechlens" init --config model.json --out model.safetensors >/dev/null
"$python" -c "
import random
random.seed(0)
with open('prompts.txt', 'w') as f:
    for i in range(8):
        f.write(' '.join(str(random.randrange(40)) for _ in range(random.randint(4, 16))) + '\n')"
record=("$mechlens" record --checkpoint model.safetensors --tokens-file prompts.txt --batch 4 --quiet
        --hooks 'blocks.*.attn.hook_pattern' blocks.1.hook_resid_post --out cut.h5)
"$mechlens" record --checkpoint model.safetensors --tokens-file prompts.txt --batch 4 --quiet \
  --hooks 'blocks.*.attn.hook_pattern' blocks.1.hook_resid_post --out full.h5 >/dev/null

writes_of() {  # writes_of ARGS...: how many partial-file writes and renames a whole run makes
  LD_PRELOAD=$preload "$@" 2>&1 >/dev/null | sed -n 's/^partial-file operations: //p'
}
killed_at() {  # killed_at N ARGS...: the run, killed just before its write N (its exit status)
  MECHLENS_KILL_AFTER_WRITES=$1 LD_PRELOAD=$preload "${@:2}" >/dev/null 2>&1 &
  wait $! 2>/dev/null  # quiet: no "Killed" line from the shell
}

# 1. Killed anywhere in a fresh run. Before the first batch's data is safe there is no .partial
#    and --resume says so (nothing was complete); afterwards --resume finishes the record.
rm -f cut.h5*
writes=$(writes_of "${record[@]}")
[ "${writes:-0}" -ge 20 ] && ok || bad "the preload library counted ${writes:-no} writes of a record run"
for n in $(seq 0 $((writes - 1))); do
  rm -f cut.h5 cut.h5.partial*
  killed_at "$n" "${record[@]}"
  rc=$?
  [ "$rc" -eq 137 ] && [ ! -e cut.h5 ] || bad "kill at write $n: exit $rc, files: $(ls)"
  if [ -e cut.h5.partial ]; then
    out=$("${record[@]}" --resume 2>&1) || bad "kill at write $n: --resume failed: $out"
  else
    expect "nothing-to-resume-$n" 1 "cut.h5.partial does not exist \(nothing to resume\)" -- "${record[@]}" --resume
    "${record[@]}" >/dev/null 2>&1 || bad "kill at write $n: a new run failed"
  fi
  mv cut.h5 "kept/run-$n.h5" 2>/dev/null || bad "kill at write $n: no record after resuming"
done

# 2. Killed anywhere in a resumed run (the first run killed inside its second and last batch).
rm -f cut.h5 cut.h5.partial*
killed_at $((writes / 2)) "${record[@]}"
cp cut.h5.partial interrupted.partial
resume_writes=$(writes_of "${record[@]}" --resume)
[ "${resume_writes:-0}" -ge 20 ] && ok || bad "the preload library counted ${resume_writes:-no} writes of a resumed run"
for m in $(seq 0 $((resume_writes - 1))); do
  rm -f cut.h5 cut.h5.partial*
  cp interrupted.partial cut.h5.partial
  killed_at "$m" "${record[@]}" --resume
  out=$("${record[@]}" --resume 2>&1) || bad "resume killed at write $m: the next --resume failed: $out"
  mv cut.h5 "kept/resume-$m.h5" 2>/dev/null || bad "resume killed at write $m: no record"
done

expect all-identical 0 "^[0-9]+ records identical to the uninterrupted one$" -- "$python" - <<'PY'
import glob, h5py, numpy as np
full = h5py.File("full.h5", "r")
names = []
full.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
assert len(names) >= 4, names
paths = sorted(glob.glob("kept/*.h5"))
for path in paths:
    with h5py.File(path, "r") as f:
        assert f.attrs["complete"] == 1 and f.attrs["n_complete"] == 8, (path, dict(f.attrs))
        for name in names:
            assert np.array_equal(full[name][()], f[name][()]), (path, name)
print(f"{len(paths)} records identical to the uninterrupted one")
PY
[ -z "$(ls -d cut.h5.partial* 2>/dev/null)" ] && ok || bad "left behind: $(ls)"
echo "crash points: $writes in a run, $resume_writes in a resumed run"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
