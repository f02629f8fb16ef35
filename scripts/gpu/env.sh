# Source THERE (the GPU machine), from the repository root: unpacks the carried Debian packages (never into /)
# and points CMake, pkg-config and the dynamic loader at them and at the installed PyTorch's libtorch.
#   source scripts/gpu/env.sh
VLM_DEPS=/tmp/vlm-deps
if [ ! -f "$VLM_DEPS/.done" ]; then
  mkdir -p "$VLM_DEPS"
  for f in .deps/debs/*.deb; do dpkg -x "$f" "$VLM_DEPS"; done
  touch "$VLM_DEPS/.done"
fi
VLM_TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export CMAKE_PREFIX_PATH="$VLM_DEPS/usr:$VLM_TORCH_PREFIX${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PKG_CONFIG_PATH="$VLM_DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$VLM_DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$VLM_DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
