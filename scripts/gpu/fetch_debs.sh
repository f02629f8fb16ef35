#!/usr/bin/env bash
# Run HERE (Debian 12), before a GPU run: downloads the Debian packages whose development files the GPU machine
# (Ubuntu 24.04, no package registry) lacks into .deps/debs, which .gitignore ignores. Name `.deps` in the device
# tool's `carry`; scripts/gpu/env.sh unpacks them there.
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  libutf8proc-dev libutf8proc2
  libwebp-dev libwebp7 libwebpmux3 libwebpdemux2
  libgif-dev libgif7
  libcpp-httplib-dev libcpp-httplib0.11
)
mkdir -p .deps/debs
cd .deps/debs
missing=()
for p in "${packages[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get download "${missing[@]}" >/dev/null
fi
ls -1 | wc -l | xargs echo "fetch_debs: packages in .deps/debs:"
