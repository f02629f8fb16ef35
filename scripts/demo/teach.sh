#!/usr/bin/env bash
# The demo's core: teaches a model a task it was not trained for (by default naming the shape of the object of a
# given colour) with a LoRA fine-tune on the CPU, and shows accuracy before and after. Used by scripts/run_demo.sh
# (the README's first command) and, with smaller settings, by the CI smoke test (scripts/demo/demo_smoke.sh).
#   scripts/demo/teach.sh VLM MODEL_DIR WORK_DIR
# Steps: `vlm data synth` a training set and a held-out set of the task (other seeds: no scene is shared);
# `vlm eval` the model on the held-out set; `vlm train` a LoRA adapter on the CPU; `vlm eval --adapter`; a table
# of a few answers before and after. Writes WORK_DIR/{train,heldout}/ (data), WORK_DIR/adapter/,
# WORK_DIR/before.json and WORK_DIR/after.json (vlm eval --json) and prints
#   accuracy: before 0 of 100, after 94 of 100
# as its last line. Settings (environment; defaults are the README demo's):
#   VLM_DEMO_TASK=shape                        the `vlm data synth` task taught (count: see the README)
#   VLM_DEMO_TRAIN_N=400 VLM_DEMO_EVAL_N=100   samples in the training / held-out sets
#   VLM_DEMO_STEPS=200 VLM_DEMO_BATCH=8 VLM_DEMO_LR=2e-3 VLM_DEMO_RANK=8 VLM_DEMO_ALPHA=16
#   VLM_DEMO_TRAIN_VISION=1                    0: adapt the language model only
#   VLM_DEMO_SHOW=6                            answers shown side by side
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 VLM MODEL_DIR WORK_DIR" >&2
  exit 2
fi
VLM=$1 MODEL=$2 WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
TASK=${VLM_DEMO_TASK:-shape}
TRAIN_N=${VLM_DEMO_TRAIN_N:-400}
EVAL_N=${VLM_DEMO_EVAL_N:-100}
STEPS=${VLM_DEMO_STEPS:-200}
BATCH=${VLM_DEMO_BATCH:-8}
LR=${VLM_DEMO_LR:-2e-3}
RANK=${VLM_DEMO_RANK:-8}
ALPHA=${VLM_DEMO_ALPHA:-16}
SHOW=${VLM_DEMO_SHOW:-6}
TRAIN_VISION=()
[ "${VLM_DEMO_TRAIN_VISION:-1}" = 1 ] && TRAIN_VISION=(--train-vision)

step() { printf '\n== %s\n' "$*"; }
die() { echo "teach: $*" >&2; exit 1; }
[ -x "$VLM" ] || die "$VLM: no vlm executable there (build it first)"
[ -f "$MODEL/config.json" ] || die "$MODEL: not a model folder (no config.json)"
command -v cmake >/dev/null || die "cmake is needed (it prints the table)"

# libtorch on Debian multiplies matrices through libblas.so.3; the reference BLAS there makes training about 13
# times slower than OpenBLAS (libopenblas0-pthread, which scripts/setup.sh installs).
blas=$(ldd "$VLM" 2>/dev/null | sed -nE 's/^\s*libblas\.so\.3 => (\S+).*/\1/p')
if [ -n "$blas" ] && [[ "$(readlink -f "$blas")" == */blas/libblas.so.3* ]]; then
  echo "teach: warning: libtorch uses the reference BLAS ($(readlink -f "$blas")); training will be slow." >&2
  echo "teach: install OpenBLAS (apt-get install libopenblas0-pthread) for a ~13x faster demo." >&2
fi

rm -rf "$WORK"
mkdir -p "$WORK"
start=$(date +%s)

step "Data: $TRAIN_N '$TASK' questions to learn from, $EVAL_N held-out ones to test on (vlm data synth)"
"$VLM" data synth --task "$TASK" --n "$TRAIN_N" --seed 11 --out "$WORK/train"
"$VLM" data synth --task "$TASK" --n "$EVAL_N" --seed 12 --out "$WORK/heldout"
printf 'for example: %s\n' "$(sed -nE '1s/.*"text":"([^"]*)","type":"text"\}\],"role":"user".*"text":"([^"]*)".*/\1 -> \2/p' "$WORK/train/data.jsonl")"

step "Before: the model was never trained on '$TASK' questions (vlm eval)"
"$VLM" eval --model "$MODEL" --data "$WORK/heldout/data.jsonl" --device cpu --show 0 --json "$WORK/before.json"

step "LoRA fine-tune on the CPU: $STEPS steps of $BATCH samples, rank $RANK (vlm train)"
"$VLM" train --model "$MODEL" --data "$WORK/train/data.jsonl" --output "$WORK/adapter" --device cpu \
  --steps "$STEPS" --batch-size "$BATCH" --lr "$LR" --lr-schedule cosine --warmup-steps $((STEPS / 10)) \
  --rank "$RANK" --alpha "$ALPHA" --seed 0 ${TRAIN_VISION[@]+"${TRAIN_VISION[@]}"}

step "After: the same held-out questions with the adapter (vlm eval --adapter)"
"$VLM" eval --model "$MODEL" --adapter "$WORK/adapter" --data "$WORK/heldout/data.jsonl" --device cpu --show 0 \
  --json "$WORK/after.json"

step "Side by side ($(( $(date +%s) - start )) s so far)"
cmake -DDATA="$WORK/heldout/data.jsonl" -DBEFORE="$WORK/before.json" -DAFTER="$WORK/after.json" -DSHOW="$SHOW" \
  -P "$HERE/side_by_side.cmake"
