// Strict weight loading: every parameter of a module tree gets the checkpoint tensor of the same name (after the
// family's key mapping), with the same shape; missing and unexpected tensors are errors listing them.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "core/safetensors.h"

namespace vlm {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

// Maps a checkpoint key to the module's parameter name; "" drops the tensor (e.g. lm_head.weight when tied).
using KeyMap = std::function<std::string(const std::string&)>;

// Loads all parameters of `module`. Float tensors are converted to options.dtype; on CPU, tensors whose dtype
// already matches are used in place (zero copy from the memory map).
void load_weights(torch::nn::Module& module, const safetensors::Checkpoint& ckpt, const KeyMap& map,
                  const LoadOptions& options);

}  // namespace vlm
