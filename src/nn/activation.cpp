#include "nn/activation.h"

#include "core/error.h"
#include "kernels/ops.h"

namespace vlm::nn {

Activation activation_from_name(const std::string& name, const std::string& where) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "relu") return Activation::kRelu;
  fail(where, ": unsupported activation ", quote(name),
       " (supported: silu, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast, quick_gelu, relu)");
}

at::Tensor activate(Activation act, const at::Tensor& x) {
  switch (act) {
    case Activation::kSilu: return at::silu(x);
    case Activation::kGelu: return at::gelu(x);
    case Activation::kGeluTanh: return at::gelu(x, "tanh");
    case Activation::kQuickGelu: return ops::quick_gelu(x);
    case Activation::kRelu: return at::relu(x);
  }
  return x;
}

}  // namespace vlm::nn
