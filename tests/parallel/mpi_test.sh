#!/usr/bin/env bash
# Runs shared by MPI ranks: `mpirun -n K mechlens patch|record|trace|heads` writes the file one process writes
# (every dataset and attribute bit for bit, but for the run's time and command line), for K = 2 and
# 3; a rank killed part-way fails the run, leaves no file at --out, and --resume (with another rank
# count) completes it to the same file; `mpirun -n K mechlens sweep` trains the runs one process
# trains, to the same files; other commands and mismatched resumes are refused clearly.
# usage: mpi_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
command -v mpirun >/dev/null || { echo "mpirun not installed: skipped"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
same="$(dirname "$0")/same_h5.py"
# As root (CI), OpenMPI needs both settings; --oversubscribe runs more ranks than this machine's cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export MECHLENS_NUM_THREADS=1  # the same threads on every rank and in the one-process run
logic="$source/data/checkpoints/logic_3l3h.safetensors"
matching="$source/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors"
patch_args=(patch --checkpoint "$logic" --task logic --n 40 --seed 3 --component head_z,resid_pre,mlp_out --batch 16
  --quiet)
record_args=(record --checkpoint "$matching" --task matching --task-option orders=2 --n 90 --seed 4 --batch 8 --pairs
  --hooks 'blocks.*.attn.hook_pattern' 'blocks.*.hook_resid_post' blocks.0.attn.hook_z --dtype f16 --compress gzip
  --quiet)

expect patch-1 0 "wrote" -- "$mechlens" "${patch_args[@]}" --out "$work/patch1.h5"
expect record-1 0 "recorded 7 hooks over 90 prompts" -- "$mechlens" "${record_args[@]}" --out "$work/record1.h5"
for ranks in 2 3; do
  expect "patch-$ranks" 0 "wrote" -- mpirun -n $ranks "$mechlens" "${patch_args[@]}" --out "$work/patch$ranks.h5"
  expect "patch-$ranks-same" 0 "same content" -- "$python" "$same" "$work/patch1.h5" "$work/patch$ranks.h5"
  expect "record-$ranks" 0 "\($ranks ranks\)" -- mpirun -n $ranks "$mechlens" "${record_args[@]}" \
    --out "$work/record$ranks.h5"
  expect "record-$ranks-same" 0 "same content" -- "$python" "$same" "$work/record1.h5" "$work/record$ranks.h5"
  [ ! -e "$work/patch$ranks.h5.shards" ] && [ ! -e "$work/record$ranks.h5.shards" ] && ok || bad "shards left after $ranks ranks"
done
# Tracing: the knock-out grid is divided between the ranks, the rest runs on each; one file.
trace_args=(trace --checkpoint "$matching" --task matching --task-option orders=2 --n 60 --seed 2
  --analyses spans,knockout --per-head --quiet)
expect trace-1 0 "wrote" -- "$mechlens" "${trace_args[@]}" --out "$work/trace1.h5"
expect trace-2 0 "wrote" -- mpirun -n 2 "$mechlens" "${trace_args[@]}" --out "$work/trace2.h5"
expect trace-2-same 0 "same content" -- "$python" "$same" "$work/trace1.h5" "$work/trace2.h5"

# Naming heads: the ablation sweep is divided between the ranks; one file.
heads_args=(heads --checkpoint "$logic" --task logic --n 24 --seed 2 --quiet)
expect heads-1 0 "wrote" -- "$mechlens" "${heads_args[@]}" --out "$work/heads1.h5"
expect heads-3 0 "wrote" -- mpirun -n 3 "$mechlens" "${heads_args[@]}" --out "$work/heads3.h5"
expect heads-3-same 0 "same content" -- "$python" "$same" "$work/heads1.h5" "$work/heads3.h5"

# Prompt groups: each rank runs whole groups, their set-up included; the file is the one-process
# run's with the same groups, for 2 and 3 ranks (3 ranks: one takes two groups of four), and with
# more ranks than groups.
split_args=(patch --checkpoint "$logic" --task logic --n 30 --seed 3 --component head_z,resid_pre --batch 16
  --attribution --quiet)
expect split-1 0 "wrote" -- "$mechlens" "${split_args[@]}" --split-prompts 4 --out "$work/split1.h5"
for ranks in 2 3; do
  expect "split-$ranks" 0 "wrote" -- mpirun -n $ranks "$mechlens" "${split_args[@]}" --split-prompts 4 --out "$work/split$ranks.h5"
  expect "split-$ranks-same" 0 "same content" -- "$python" "$same" "$work/split1.h5" "$work/split$ranks.h5"
done
[ ! -e "$work/split3.h5.shards" ] && ok || bad "shards left after a split run"
# More ranks than groups: 3 ranks in teams of 2 and 1, the team of 2 sharing its group's packs.
expect split-teams-1 0 "wrote" -- "$mechlens" "${split_args[@]}" --split-prompts 2 --out "$work/teams1.h5"
expect split-teams-3 0 "wrote" -- mpirun -n 3 "$mechlens" "${split_args[@]}" --split-prompts 2 --out "$work/teams3.h5"
expect split-teams-3-same 0 "same content" -- "$python" "$same" "$work/teams1.h5" "$work/teams3.h5"

# The comparison is not blind: another seed's sweep differs.
expect patch-other-seed 0 "wrote" -- "$mechlens" patch --checkpoint "$logic" --task logic --n 40 --seed 4 \
  --component head_z,resid_pre,mlp_out --batch 16 --quiet --out "$work/other.h5"
expect patch-other-differs 1 "values differ" -- "$python" "$same" "$work/patch1.h5" "$work/other.h5"

# Kill one rank once the first shard is saved: the run fails, no file at --out, shards remain;
# --resume with 3 ranks finishes the same file.
# Only this launcher's ranks (its children) are candidates: ctest runs other tests' mechlens processes
# beside this one, and the newest mechlens on the machine may be theirs.
kill_one_rank() {  # OUT_GLOB COMMAND...: runs COMMAND, kills its newest mechlens rank after a shard appears
  local glob=$1
  shift
  "$@" >"$work/killed.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 600); do
    compgen -G "$glob" >/dev/null && break
    sleep 0.05
  done
  pkill -9 -n -P "$launcher" -f "$mechlens" && echo killed >"$work/killed.mark"
  wait $launcher
  echo "exit $?" >>"$work/killed.mark"
}
long_patch=(patch --checkpoint "$logic" --task logic --n 300 --seed 5 --component head_z --batch 8 --quiet)
expect patch-long-1 0 "wrote" -- "$mechlens" "${long_patch[@]}" --out "$work/long1.h5"
kill_one_rank "$work/long.h5.shards/*.shard" mpirun -n 2 "$mechlens" "${long_patch[@]}" --out "$work/long.h5"
expect patch-killed 0 "^killed" -- cat "$work/killed.mark"
expect patch-killed-message 0 "exited on signal 9" -- cat "$work/killed.log"
grep -q "exit 0" "$work/killed.mark" && bad "the killed run exited 0: $(cat "$work/killed.log")" || ok
[ ! -e "$work/long.h5" ] && [ -d "$work/long.h5.shards" ] && ok || bad "after the kill: output present or no shards"
expect patch-resume-other-options 1 "saved by another run" -- mpirun -n 2 "$mechlens" patch --checkpoint "$logic" \
  --task logic --n 300 --seed 5 --component head_z --batch 8 --direction noising --quiet --resume --out "$work/long.h5"
expect patch-resume 0 "wrote" -- mpirun -n 3 "$mechlens" "${long_patch[@]}" --resume --out "$work/long.h5"
expect patch-resume-same 0 "same content" -- "$python" "$same" "$work/long1.h5" "$work/long.h5"

long_record=(record --checkpoint "$matching" --task matching --n 16000 --seed 6 --batch 16 --positions -1
  --hooks 'blocks.*.attn.hook_pattern' 'blocks.*.hook_resid_post' --quiet)
expect record-long-1 0 "recorded" -- "$mechlens" "${long_record[@]}" --out "$work/rlong1.h5"
kill_one_rank "$work/rlong.h5.shards/record.*.h5" mpirun -n 2 "$mechlens" "${long_record[@]}" --out "$work/rlong.h5"
grep -q "exit 0" "$work/killed.mark" && bad "the killed record exited 0: $(cat "$work/killed.log")" || ok
[ ! -e "$work/rlong.h5" ] && ok || bad "a killed record left its output"
expect record-resume-one-process 0 "recorded" -- "$mechlens" "${long_record[@]}" --resume --out "$work/rlong.h5"
expect record-resume-same 0 "same content" -- "$python" "$same" "$work/rlong1.h5" "$work/rlong.h5"

# Training sweeps: whole runs dealt to the ranks by cost; checkpoints, logs and tables equal the
# one-process sweep's. A killed rank fails the run; the same command again (any rank count) finishes
# it to the same files, continuing the interrupted runs from their checkpoints.
"$python" - "$source/data/configs/matching_3l1h_post_ln_gamma1.json" "$work/tiny.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(d_model=32, d_head=16, d_mlp=64)
json.dump(c, open(sys.argv[2], "w"))
PY
same_sweep() {  # NAME A B: every run's checkpoint, optimiser state and log, the CSV tables and sweep.h5 are the same
  local name=$1 a=$2 b=$3 file differ=""
  for file in "$a"/*.safetensors "$a"/*.safetensors.state "$a"/*.train_log.csv "$a/runs.csv" "$a/conditions.csv"; do
    cmp -s "$file" "$b/$(basename "$file")" || differ="$differ $(basename "$file")"
  done
  [ -z "$differ" ] && ok || bad "$name: differs from the one-process sweep:$differ"
  expect "$name-h5" 0 "same content" -- "$python" "$same" "$a/sweep.h5" "$b/sweep.h5"
}
sweep_args=(sweep --grid custom --config "$work/tiny.json" --vary init_gamma=0.5,1 --vary n_layers=2,3 --seeds 0
  --steps 30 --batch 16 --warmup 5 --eval-every 10 --eval-n 40 --quiet)
expect sweep-1 0 "wrote" -- "$mechlens" "${sweep_args[@]}" --out-dir "$work/sweep1"
for ranks in 2 3; do
  expect "sweep-$ranks" 0 "wrote" -- mpirun -n $ranks "$mechlens" "${sweep_args[@]}" --out-dir "$work/sweep$ranks"
  same_sweep "sweep-$ranks-same" "$work/sweep1" "$work/sweep$ranks"
done
# One bar on rank 0 counts every rank's steps: 4 runs x 30 steps (the arguments without --quiet, the last).
expect sweep-one-bar 0 "sweep, 3 ranks \[#+\] 120/120 " -- mpirun -n 3 "$mechlens" "${sweep_args[@]:0:${#sweep_args[@]}-1}" \
  --out-dir "$work/sweep-bar"
long_sweep=(sweep --grid custom --config "$work/tiny.json" --vary init_gamma=0.5,1 --seeds 0 --steps 600 --batch 16
  --warmup 5 --eval-every 100 --checkpoint-every 50 --eval-n 40 --quiet)
expect sweep-long-1 0 "wrote" -- "$mechlens" "${long_sweep[@]}" --out-dir "$work/slong1"
kill_one_rank "$work/slong/*.safetensors" mpirun -n 2 "$mechlens" "${long_sweep[@]}" --out-dir "$work/slong"
grep -q "exit 0" "$work/killed.mark" && bad "the killed sweep exited 0: $(cat "$work/killed.log")" || ok
[ ! -e "$work/slong/sweep.h5" ] && ok || bad "a killed sweep wrote its tables"
cp -r "$work/slong" "$work/slong-mpi"
expect sweep-continued 0 "wrote" -- "$mechlens" "${long_sweep[@]}" --out-dir "$work/slong"
same_sweep sweep-continued-same "$work/slong1" "$work/slong"
# Continued under MPI, the runs are dealt and counted by the steps they still need (a checkpoint was
# written, so fewer than 2 x 600).
expect sweep-continued-mpi 0 "runs to train \(([0-9]{1,3}|10[0-9]{2}|11[0-4][0-9]|1150) steps\)" -- \
  mpirun -n 2 "$mechlens" "${long_sweep[@]:0:${#long_sweep[@]}-1}" --out-dir "$work/slong-mpi"
same_sweep sweep-continued-mpi-same "$work/slong1" "$work/slong-mpi"

# Commands that do not share their work refuse to run as several ranks, naming those that do.
expect info-refused 2 "runs as one process; of the commands, record, patch, trace, heads, sweep share" -- mpirun -n 2 "$mechlens" info \
  "$logic"

echo "mpi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
