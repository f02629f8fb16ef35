#!/usr/bin/env bash
# Sets up (system packages), builds, and runs the main job on the bundled default: for now `vlm --help` and
# `vlm inspect` on the tiny Qwen2-VL checkpoint that transformers wrote (tests/fixtures/tiny-qwen2-vl).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${VLM_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target vlm_cli
"$BUILD"/bin/vlm --help
echo
"$BUILD"/bin/vlm inspect tests/fixtures/tiny-qwen2-vl
