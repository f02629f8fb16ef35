#!/usr/bin/env bash
# Installs every system dependency of vlmcpp on Debian 12 (bookworm). Idempotent and quiet; fails loudly.
#   sudo scripts/setup.sh          (as root, or through sudo)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev            # libFuzzer targets and sanitizer builds
  libtorch-dev                        # PyTorch C++ (1.13, CPU); CUDA builds use an installed PyTorch instead
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libpcre2-dev libutf8proc-dev libsentencepiece-dev
  libjpeg-dev libpng-dev libwebp-dev libgif-dev
  libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas0-pthread                # fast CPU matrix products for libtorch (the reference BLAS is ~13x slower)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${#missing[@]} packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >/tmp/vlmcpp-apt-update.log 2>&1; then
  cat /tmp/vlmcpp-apt-update.log >&2; echo "setup: apt-get update failed" >&2; exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/vlmcpp-apt-install.log 2>&1; then
  tail -n 40 /tmp/vlmcpp-apt-install.log >&2; echo "setup: apt-get install failed (log: /tmp/vlmcpp-apt-install.log)" >&2; exit 1
fi
