#!/usr/bin/env bash
# Run THERE (the GPU machine), from the repository root: configures and builds vlmcpp against the installed
# PyTorch's CUDA libtorch into build-gpu/, then runs the whole test suite with CUDA (VLM_NO_TESTS=1: build only).
#   VLM_CMAKE_ARGS="-DVLM_SKIP_PARTS=image" scripts/gpu/build.sh [ctest args...]
set -eo pipefail
source scripts/gpu/env.sh
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVLM_CUDA=ON ${VLM_CMAKE_ARGS:-} >build-gpu.log 2>&1 || { cat build-gpu.log; exit 1; }
ninja -C build-gpu -j"$(nproc)" >>build-gpu.log 2>&1 || { grep -E "error|FAILED" -A3 build-gpu.log | head -60; exit 1; }
[ "${VLM_NO_TESTS:-0}" = 1 ] && exit 0
(cd build-gpu && ctest -j8 --output-on-failure "$@")
