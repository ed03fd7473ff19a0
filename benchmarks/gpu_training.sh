#!/usr/bin/env bash
# The training recipe on a GPU (issue 21, item 4) and the long-context rivals with the same
# wall-clock budget on the same machine (issue 24), trained side by side on one GPU.
#
#   bash benchmarks/gpu_training.sh STORE OUT_DIR BUDGET_S
#
# 1. Collects STORE (150 demos, on every core but two) unless it exists.
# 2. Times 30 steps of each run below, all at once, as they will then run (the stages are
#    fractions of the steps, so 30 steps hold the same mix of stages as the whole run).
# 3. Trains at once:
#      df         the recipe as it stands (config/model_cpu.yaml, its train.steps);
#      dp_long    long-context Diffusion Policy, sized to df's expected wall time;
#      ptp        the same with past-token prediction, sized likewise;
#      df_budget  the recipe sized to BUDGET_S (the same stages over more steps).
#    Rivals and df are capped at BUDGET_S too; each run stops at BUDGET_S + 60 s at the latest.
# 4. Writes OUT_DIR/<run>.tar.gz (the run's last checkpoint without its optimiser state: evaluate or export it
#    where the figures are measured) and OUT_DIR/summary.json (steps planned and run, wall time,
#    tokens/s, final loss of each run).
# DEVICE=cpu runs the same on the CPU (a rehearsal: small BUDGET_S, EPISODES=4, CONFIG=a small
# model's YAML).
set -uo pipefail
store=$1
out=$2
budget=$3
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
config=${CONFIG:-config/model_cpu.yaml}
runs="df dp_long ptp df_budget"
work=$(mktemp -d)
mkdir -p "$out"

if [ ! -e "$store" ]; then
  workers=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))
  "$python" -m df_policy.cli collect --episodes "${EPISODES:-150}" --workers "$workers" --videos 0 \
    --out "$store" --quiet > "$out/collect.json" || { echo "collect failed"; exit 1; }
fi

policy_of() { case $1 in df|df_budget) echo df ;; *) echo "$1" ;; esac; }

train() {  # NAME STEPS FOLDER [extra args]: one run in the background
  local name=$1 steps=$2 folder=$3
  shift 3
  mkdir -p "$folder"
  timeout $(( budget + 60 )) "$python" -m df_policy.cli train --policy "$(policy_of "$name")" \
    --data "$store" --config "$config" --out "$folder/$name" --steps "$steps" \
    --device "$device" --quiet "$@" > "$folder/$name.out" 2>&1 &
}

for name in $runs; do
  train "$name" 30 "$work/calibrate" --set train.log_every=10 --set train.checkpoint_every=30
done
wait
# Seconds per step of each run from its log (steps 10 to 30), then each run's steps.
plan=$("$python" - "$work/calibrate" "$config" "$budget" $runs <<'EOF'
import csv, json, sys, yaml
folder, config, budget, names = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
recipe_steps = yaml.safe_load(open(config))["train"]["steps"]
per_step = {}
for name in names:
    rows = {int(r["step"]): float(r["wall_s"]) for r in csv.DictReader(open(f"{folder}/{name}/log.csv"))}
    per_step[name] = (rows[30] - rows[10]) / 20
df_wall = min(recipe_steps * per_step["df"], budget)
steps = {"df": recipe_steps if df_wall < budget else int(budget / per_step["df"]),
         "df_budget": int(budget / per_step["df_budget"])}
for name in ("dp_long", "ptp"):
    steps[name] = int(df_wall / per_step[name])
print(json.dumps({"seconds_per_step": per_step, "steps": steps, "budget_s": budget,
                  "recipe_steps": recipe_steps}))
EOF
) || { echo "calibration failed:"; tail -5 "$work"/calibrate/*.out; exit 1; }
echo "$plan" | tee "$out/plan.json"

for name in $runs; do
  steps=$(echo "$plan" | "$python" -c "import json,sys; print(json.load(sys.stdin)['steps']['$name'])")
  train "$name" "$steps" "$work/runs" --set train.checkpoint_every=$(( steps / 4 > 0 ? steps / 4 : 1 ))
done
wait

"$python" - "$work/runs" "$out/summary.json" $runs <<'EOF'
import csv, json, sys
folder, target, names = sys.argv[1], sys.argv[2], sys.argv[3:]
summary = {}
for name in names:
    try:
        rows = list(csv.DictReader(open(f"{folder}/{name}/log.csv")))
    except FileNotFoundError:
        summary[name] = {"error": open(f"{folder}/{name}.out").read()[-2000:]}
        continue
    last = rows[-1]
    summary[name] = {"steps": int(last["step"]), "wall_s": float(last["wall_s"]),
                     "final_loss": float(last["loss"]),
                     "tokens_per_s_median": sorted(float(r["tokens_per_s"]) for r in rows)[len(rows) // 2]}
json.dump(summary, open(target, "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
for name in $runs; do  # the last checkpoint only (files come back up to 16 MiB each)
  latest=$(cat "$work/runs/$name/LATEST" 2>/dev/null) || continue
  tar czf "$out/$name.tar.gz" -C "$work/runs" --exclude=train_state.pt "$name.out" \
    "$name/LATEST" "$name/log.csv" "$name/checkpoints/$latest"
done
ls -la "$out"
