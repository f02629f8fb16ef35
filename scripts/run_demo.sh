#!/usr/bin/env bash
# The README's first command. Sets up (system packages), builds `vlm`, and runs the demo on the bundled model
# (models/tiny-qwen2-vl-shapes, a tiny Qwen2-VL that vlm pretrained on synthetic shape scenes):
#   1. it is evaluated on a task it was never trained for: naming the shape of the object of a given colour
#      ("What shape is the red object?" -> "a circle"), accuracy before,
#   2. a LoRA adapter is fine-tuned on 400 such questions on the CPU (about a minute on 2 cores),
#   3. it is evaluated again with the adapter (accuracy after), with a few answers side by side,
#   4. `vlm generate` describes a freshly synthesized image.
# Environment: VLM_BUILD_DIR (default build), VLM_DEMO_MODEL (default models/tiny-qwen2-vl-shapes),
# VLM_DEMO_WORK (default BUILD/demo; rewritten on every run), VLM_SKIP_SETUP=1 (no apt-get), and the training
# settings of scripts/demo/teach.sh (VLM_DEMO_TASK, VLM_DEMO_STEPS, VLM_DEMO_LR, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

BUILD=${VLM_BUILD_DIR:-build}
MODEL=${VLM_DEMO_MODEL:-models/tiny-qwen2-vl-shapes}
WORK=${VLM_DEMO_WORK:-$BUILD/demo}
if [ ! -f "$MODEL/config.json" ] || [ ! -f "$MODEL/model.safetensors" ]; then
  echo "run_demo: the demo model $MODEL is missing (no config.json / model.safetensors there)." >&2
  echo "run_demo: it ships with the repository; point VLM_DEMO_MODEL at a model folder, or remake it on a" >&2
  echo "run_demo: CUDA machine with scripts/demo/make_tiny_model.py (see its header)." >&2
  exit 1
fi

[ "${VLM_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh
echo "== Building vlm in $BUILD (the first build takes a while)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target vlm_cli
VLM=$BUILD/bin/vlm
built=$(date +%s)

scripts/demo/teach.sh "$VLM" "$MODEL" "$WORK"
taught=$(date +%s)

printf '\n== vlm generate: the base model describes a new scene (%s)\n' "$WORK/generate/images/000000.png"
"$VLM" data synth --task describe --n 1 --seed 2024 --out "$WORK/generate" >/dev/null
echo "\$ vlm generate --model $MODEL --image $WORK/generate/images/000000.png --prompt \"Describe the image.\""
"$VLM" generate --model "$MODEL" --image "$WORK/generate/images/000000.png" --prompt "Describe the image." \
  --max-tokens 48 --device cpu
truth=$(sed -E 's/.*"text":"([^"]*)","type":"text"\}\],"role":"assistant".*/\1/' "$WORK/generate/data.jsonl")
echo "(the scene as drawn: $truth)"

end=$(date +%s)
printf '\nrun_demo: done in %d s (build %d s, demo %d s)\n' $((end - start)) $((built - start)) $((end - built))
