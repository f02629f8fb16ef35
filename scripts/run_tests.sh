#!/usr/bin/env bash
# Sets up (system packages), builds and runs every test. This is the README's test command; .ci/run runs it.
#   scripts/run_tests.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${VLM_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" -j"$(nproc)" --output-on-failure "$@"
