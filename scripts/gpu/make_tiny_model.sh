#!/usr/bin/env bash
# Run THERE (the GPU machine), from the repository root: builds `vlm` with CUDA into build-gpu/ (only the vlm
# target, when needed), runs the bundled model's recipe (scripts/demo/make_tiny_model.py) into
# models/tiny-qwen2-vl-shapes, and packs the result for here: $OUT/tiny-model.tgz (the model folder, relative to
# the repository root), $OUT/report.json, $OUT/metrics.jsonl (training curve) and $OUT/make_tiny_model.log.
#   VLM_BUILD_ONLY=1 scripts/gpu/make_tiny_model.sh       first call: configure + build (a few minutes)
#   scripts/gpu/make_tiny_model.sh [recipe options...]    second call: the recipe (--steps N, --reuse-run, ...)
# The scratch folder build-gpu/tiny-model-work survives between calls, so --reuse-run redoes only the
# shipping, evaluation and parity steps after a run that trained but failed later.
set -eo pipefail
source scripts/gpu/env.sh
OUT=${OUT:-out}
mkdir -p "$OUT"
if [ ! -f build-gpu/build.ninja ]; then
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVLM_CUDA=ON ${VLM_CMAKE_ARGS:-} >build-gpu.log 2>&1 ||
    { tail -40 build-gpu.log; exit 1; }
fi
ninja -C build-gpu -j"$(nproc)" vlm_cli >>build-gpu.log 2>&1 || { grep -E "error|FAILED" -A3 build-gpu.log | head -60; exit 1; }
echo "make_tiny_model.sh: build-gpu/bin/vlm is up to date"
[ "${VLM_BUILD_ONLY:-0}" = 1 ] && exit 0

rc=0
timeout "${VLM_RECIPE_TIMEOUT:-570}" python3 scripts/demo/make_tiny_model.py build-gpu models/tiny-qwen2-vl-shapes "$@" \
  2>&1 | tee "$OUT/make_tiny_model.log" || rc=${PIPESTATUS[0]}
work=build-gpu/tiny-model-work
[ -f "$work/report.json" ] && cp "$work/report.json" "$OUT/"
[ -f "$work/run/metrics.jsonl" ] && cp "$work/run/metrics.jsonl" "$OUT/"
# Files come back in pieces of at most 16 MB: split the archive (cat tiny-model.tgz.part-* | tar xz).
[ -d models/tiny-qwen2-vl-shapes ] && tar czf - models/tiny-qwen2-vl-shapes | split -b 15m - "$OUT/tiny-model.tgz.part-"
echo "make_tiny_model.sh: exit $rc; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$rc"
