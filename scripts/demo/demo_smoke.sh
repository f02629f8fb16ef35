#!/usr/bin/env bash
# CI smoke test of the README demo (tests/cli/demo.cmake registers it): the same steps as scripts/run_demo.sh
# with smaller sets and fewer LoRA steps; passes when exact-match accuracy on the held-out questions rises. Exits 77 (CTest SKIP_RETURN_CODE) when the bundled model folder is absent.
#   scripts/demo/demo_smoke.sh VLM MODEL_DIR WORK_DIR
# Settings: as scripts/demo/teach.sh; this script only changes the defaults.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 VLM MODEL_DIR WORK_DIR" >&2
  exit 2
fi
VLM=$1 MODEL=$2 WORK=$3
if [ ! -f "$MODEL/config.json" ] || [ ! -f "$MODEL/model.safetensors" ]; then
  echo "demo_smoke: SKIP: the bundled model $MODEL is absent"
  exit 77
fi
export VLM_DEMO_TRAIN_N=${VLM_DEMO_TRAIN_N:-200}
export VLM_DEMO_EVAL_N=${VLM_DEMO_EVAL_N:-40}
export VLM_DEMO_STEPS=${VLM_DEMO_STEPS:-100}
export VLM_DEMO_SHOW=${VLM_DEMO_SHOW:-3}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$(dirname "$0")/teach.sh" "$VLM" "$MODEL" "$WORK" 2>&1 | tee "$log"
# The table's last line: "accuracy: before B of N, after A of N".
line=$(grep -E '^accuracy: before [0-9]+ of [0-9]+, after [0-9]+ of [0-9]+$' "$log" | tail -1) ||
  { echo "demo_smoke: FAIL: no accuracy line in the demo's output" >&2; exit 1; }
read -r before after <<<"$(echo "$line" | sed -E 's/^accuracy: before ([0-9]+) of [0-9]+, after ([0-9]+) of [0-9]+$/\1 \2/')"
if [ "$after" -le "$before" ]; then
  echo "demo_smoke: FAIL: accuracy did not rise (before $before, after $after correct)" >&2
  exit 1
fi
echo "demo_smoke: PASS: correct answers rose from $before to $after"
