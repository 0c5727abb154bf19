#!/usr/bin/env bash
# The logic paper's LLM workflow (Hong et al. 2024 §4-5; docs/HEADS.md) in one command, through
# mechlens's generic analyses on any checkpoint with a tokenizer (a Hugging Face Mistral/Llama/GPT-2
# directory, or a mechlens checkpoint with --tokenizer):
#   1. few-shot prompts in the paper's template (task logic-text: k solved examples, depth-2 chains,
#      three facts, the question), query-flip pairs and their first answer tokens;
#   2. the model's few-shot accuracy on whole proofs (greedy) - mechlens eval;
#   3. hook_z noising from QUERY to the last token, one [layer, head] heatmap - mechlens patch;
#   4. attention masses for the head families - mechlens heads: locators (QUERY -> queried rule),
#      movers (last -> QUERY), fact processors (last -> facts), decision heads (last -> correct fact);
#   5. the families (heads whose noising score reaches --min-score, each in the family of its largest
#      mass when that reaches --min-mass) as a circuit, and its recovery with each family removed -
#      mechlens patch --circuit. Thresholds are options; the family assignment rule is ours (the paper
#      names heads by inspection).
# Results in OUT_DIR: eval.txt, patch.h5/json, heads.md/json/h5, circuit.json, circuit.txt, times.txt.
# usage: logic_llm_workflow.sh CHECKPOINT OUT_DIR [--tokenizer DIR] [--n N] [--shots K] [--seed S]
#        [--min-score 0.05] [--min-mass 0.3] [--model-dtype f32|bf16] [--mechlens BIN]
# (--model-dtype bf16 for 7B-class models on a machine whose memory cannot hold float32 weights)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
checkpoint=$1 out=$2
shift 2
tokenizer="" n=8 shots=4 seed=0 min_score=0.05 min_mass=0.3 model_dtype=f32 mechlens="$here/../build/src/cli/mechlens"
while [ $# -gt 0 ]; do
  case $1 in
    --tokenizer) tokenizer=$2 ;;
    --n) n=$2 ;;
    --shots) shots=$2 ;;
    --seed) seed=$2 ;;
    --min-score) min_score=$2 ;;
    --min-mass) min_mass=$2 ;;
    --model-dtype) model_dtype=$2 ;;
    --mechlens) mechlens=$2 ;;
    *) echo "logic_llm_workflow: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
mkdir -p "$out"
task=(--model-dtype "$model_dtype" --task logic-text --task-option "shots=$shots" --n "$n" --seed "$seed")
[ -z "$tokenizer" ] || task+=(--task-option "tokenizer=$tokenizer")
: >"$out/times.txt"
step() {  # name, command...: runs it, records its wall time
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  printf '%s %.2f s\n' "$name" "$(echo "$end - $start" | bc)" | tee -a "$out/times.txt" >&2
}

step eval "$mechlens" eval --checkpoint "$checkpoint" "${task[@]}" --greedy --quiet >"$out/eval.txt"
step patch "$mechlens" patch --checkpoint "$checkpoint" "${task[@]}" --component head_z --positions query_to_end \
  --direction noising --quiet --out "$out/patch.h5" --json "$out/patch.json" --force >/dev/null
step heads "$mechlens" heads --checkpoint "$checkpoint" "${task[@]}" --ablation none --quiet \
  --detectors "query->queried_rule,last->query,last->facts,last->correct_fact" \
  --report "$out/heads.md" --json "$out/heads.json" --out "$out/heads.h5" --force >/dev/null

python3 - "$out" "$min_score" "$min_mass" <<'PY'
import json, sys
out, min_score, min_mass = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
sweep = json.load(open(f"{out}/patch.json"))["results"]["head_z"]
n_layers, _, n_heads = sweep["shape"]
score = sweep["normalised"]  # [layer, span, head] flattened; one span: QUERY..last
families = {"locators": ("query->queried_rule", "-4"), "movers": ("last->query", "-4,-1"),
            "fact_processors": ("last->facts", "-1"), "decision": ("last->correct_fact", "-1")}
masses = {(h["layer"], int(h["head"].split("H")[1])): h["pattern_scores"] for h in json.load(open(f"{out}/heads.json"))["heads"]}
circuit = {name: [] for name in families}
for layer in range(n_layers):
    for head in range(n_heads):
        s = score[layer * n_heads + head]
        if s is None or abs(s) < min_score:
            continue
        mass = {name: masses[(layer, head)].get(detector, 0.0) for name, (detector, _) in families.items()}
        best = max(mass, key=mass.get)
        if mass[best] >= min_mass:
            circuit[best].append({"layer": layer, "head": head, "positions": families[best][1], "score": s,
                                  "mass": mass[best]})
circuit = {k: v for k, v in circuit.items() if v}
json.dump({"description": f"logic-text families: |noising score| >= {min_score}, largest family mass >= {min_mass}",
           "families": circuit}, open(f"{out}/circuit.json", "w"), indent=1)
for name, heads in circuit.items():
    print(f"{name}: " + ", ".join(f"L{h['layer']}H{h['head']} (score {h['score']:+.3f}, mass {h['mass']:.2f})" for h in heads))
if not circuit:
    print(f"no head has |noising score| >= {min_score} and a family mass >= {min_mass}: no circuit to check")
PY
if python3 -c "import json,sys; sys.exit(0 if json.load(open('$out/circuit.json'))['families'] else 1)"; then
  step circuit "$mechlens" patch --checkpoint "$checkpoint" "${task[@]}" --component head_z --positions last \
    --circuit "$out/circuit.json" --quiet >"$out/circuit.txt"
  grep -i -A12 "circuit" "$out/circuit.txt" >&2 || true
fi
echo "logic_llm_workflow: results in $out" >&2
