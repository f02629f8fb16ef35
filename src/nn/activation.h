// Activation functions by their transformers names (ACT2FN).
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace vlm::nn {

enum class Activation { kSilu, kGelu, kGeluTanh, kQuickGelu, kRelu };

// "silu"/"swish", "gelu" (exact erf), "gelu_pytorch_tanh"/"gelu_new"/"gelu_fast", "quick_gelu", "relu".
Activation activation_from_name(const std::string& name, const std::string& where);
at::Tensor activate(Activation act, const at::Tensor& x);

}  // namespace vlm::nn
