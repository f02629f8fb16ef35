#include "nn/norm.h"

#include "kernels/ops.h"

namespace vlm::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) { return ops::rms_norm(x, weight, eps); }

NormImpl::NormImpl(Kind kind_, int64_t dim, double eps_) : kind(kind_), eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (kind == Kind::kLayerNorm) bias = register_parameter("bias", torch::zeros({dim}));
}

at::Tensor NormImpl::forward(const at::Tensor& x) {
  if (kind == Kind::kRMSNorm) return ops::rms_norm(x, weight, eps);
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

}  // namespace vlm::nn
