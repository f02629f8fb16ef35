#!/usr/bin/env bash
# Run THERE (the GPU machine), from the repository root: decoding speed of the working tree against the same tree
# with each patch applied (one at a time), in one call on one card. Builds bench_generate for each version, runs the
# decoding GPU tests on each patched version, alternates `bench_generate --batch 1` ROUNDS times over all versions,
# then (with TIMELINE=1) rebuilds each with the timeline probe and lays out a layer of each (scripts/bench/timeline.py);
# TIMELINE="x y" does that for the base and the patches named (x.patch, y.patch) only, to fit a call's time.
# Make the patches HERE, against the tree that is copied, e.g. `git diff main...next/x > x.patch` (untracked files in
# the repository root travel with it):
#   ROUNDS=3 TIMELINE=1 scripts/gpu/ab_decode.sh x.patch y.patch
# VARIANTS="a:X=1,Y=2 b:X=3" also runs the last version built under each such environment, as version <last>@a etc.
# (run-time switches of one build).
# BATCH=16 measures that batch instead of 1, BATCH="1 16" both (a timeline takes the first); "lora" is batch 1 with a
# random LoRA adapter on every language-model linear (scripts/bench/shapes.py), applied and not merged. Prints one line a run
# ("<version> batch <b> <tok/s> <hash of the generated ids>": versions that decode alike print the same hash) and the
# mean of each version and batch; the timelines go to $OUT when it is set.
set -eo pipefail
source scripts/gpu/env.sh
ROUNDS=${ROUNDS:-2}
MODEL=/tmp/vlm-bench/qwen2-vl-2b
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
ADAPTER=/tmp/vlm-bench/qwen2-vl-2b-lora
want_adapter=$([[ " ${BATCH:-} " == *" lora "* ]] && [ ! -f "$ADAPTER/adapter_config.json" ] && echo 1 || true)
[ -f "$MODEL/config.json" ] && [ -z "$want_adapter" ] || python3 -c "import sys; sys.path.insert(0, 'scripts/bench'); from shapes \
import QWEN2_VL_2B, make_model, with_random_lora; m = make_model(QWEN2_VL_2B, '$MODEL'); \
'$want_adapter' and with_random_lora(m, '$ADAPTER')" >/dev/null 2>&1 &

# A warm machine keeps build-gpu from the last call, while the copied sources may carry older times than its objects
# (a patch applied and reversed there): start from an empty build.
rm -rf build-gpu
build() {  # $1: timeline ON/OFF, $2: tests to build too
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVLM_CUDA=ON -DVLM_BUILD_BENCH=ON \
    -DVLM_BUILD_TESTS=ON -DVLM_TIMELINE="$1" >/tmp/ab-cmake.log 2>&1 || { cat /tmp/ab-cmake.log; exit 1; }
  ninja -C build-gpu -j"$(nproc)" bench_generate $2 >/tmp/ab-build.log 2>&1 ||
    { grep -E "error|FAILED" -A3 /tmp/ab-build.log | head -60; exit 1; }
}

# Whether version $1 gets a timeline.
timeline_of() { [ "$1" = base ] || [ "${TIMELINE:-}" = 1 ] || [[ " ${TIMELINE//,/ } " == *" $1 "* ]]; }

# Builds every version into /tmp/ab/<name> (base = the tree as copied).
versions=(base)
mkdir -p /tmp/ab
for timeline in OFF ${TIMELINE:+ON}; do
  build "$timeline" ""
  cp build-gpu/bin/bench_generate "/tmp/ab/base-$timeline"
  for patch in "$@"; do
    name=$(basename "$patch" .patch)
    if [ "$timeline" = ON ] && ! timeline_of "$name"; then continue; fi
    git apply "$patch"
    if [ "$timeline" = OFF ]; then
      build OFF "test_ops test_generation test_qwen2_vl"
      for t in test_ops test_qwen2_vl test_generation; do
        echo -n "$name $t: "; "$(find build-gpu -name $t -type f -executable)" 2>&1 | tail -1
      done
      versions+=("$name")
    else
      build ON ""
    fi
    cp build-gpu/bin/bench_generate "/tmp/ab/$name-$timeline"
    git apply -R "$patch"
  done
done
wait
last=${versions[-1]}
for variant in ${VARIANTS:-}; do versions+=("$last@$variant"); done

# Runs version $2 (name[@variant:ENV,...]) built with the timeline $1 (ON/OFF) with the remaining arguments.
run_version() {
  local build=$1 v=$2 spec=
  shift 2
  if [[ $v == *@* ]]; then spec=${v#*:}; v=${v%%@*}; fi
  env ${spec//,/ } "/tmp/ab/$v-$build" "$@"
}

args="$MODEL --image-size 448 --text-tokens 40 --new-tokens 256 --repeat 3"
batches=(${BATCH:-1})
rm -f /tmp/ab/*.txt
for ((round = 0; round < ROUNDS; round++)); do
  for batch in "${batches[@]}"; do
    for v in "${versions[@]}"; do
      if [ "$batch" = lora ]; then batch_args="--batch 1 --adapter $ADAPTER"; else batch_args="--batch $batch"; fi
      out=$(run_version OFF "$v" $args $batch_args)
      tok=$(echo "$out" | grep summary | grep -o '"decode_tokens_per_s": [0-9.]*' | awk '{print $2}')
      ids=$(echo "$out" | grep -o '"ids_hash": "[0-9a-f]*"' | tail -1 | awk '{print $2}')
      echo "${v%%:*} batch $batch $tok $ids" | tee -a "/tmp/ab/${v%%:*}-$batch.txt"
    done
  done
done
for batch in "${batches[@]}"; do
  for v in "${versions[@]}"; do
    echo "${v%%:*} batch $batch mean $(awk '{s += $4} END {printf "%.1f", s / NR}' "/tmp/ab/${v%%:*}-$batch.txt")"
  done
done

if [ -n "${TIMELINE:-}" ]; then
  for v in "${versions[@]}"; do
    name=${v%%:*}
    timeline_of "${name%%@*}" || continue
    VLM_TIMELINE_OUT=/tmp/ab/$name.bin run_version ON "$v" $args --batch "${batches[0]}" >/dev/null
    python3 scripts/bench/timeline.py "/tmp/ab/$name.bin" > "${OUT:-/tmp/ab}/timeline-${name//@/-}.txt"
    echo "== $name"; sed -n 2,11p "${OUT:-/tmp/ab}/timeline-${name//@/-}.txt"
  done
fi
