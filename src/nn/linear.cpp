#include "nn/linear.h"

#include "kernels/ops.h"

namespace vlm::nn {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
}

at::Tensor LinearImpl::forward_base(const at::Tensor& x) const {
  return ops::linear(x, weight, bias);
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  return adapter_ ? adapter_->forward(x, *this) : forward_base(x);
}

at::Tensor LinearImpl::forward_swiglu(const at::Tensor& gate, const at::Tensor& up) {
  return adapter_ ? adapter_->forward_swiglu(gate, up, *this) : forward_base(ops::swiglu(gate, up));
}

at::Tensor LinearAdapter::forward_swiglu(const at::Tensor& gate, const at::Tensor& up, const LinearImpl& base) {
  return forward(ops::swiglu(gate, up), base);
}

std::optional<LowRankPath> LinearAdapter::low_rank_path(const at::Tensor&, const LinearImpl&) const {
  return std::nullopt;
}

void LinearImpl::set_adapter(std::shared_ptr<LinearAdapter> adapter) {
  if (adapter_) unregister_module("adapter");
  adapter_ = std::move(adapter);
  if (adapter_) register_module("adapter", adapter_);
}

}  // namespace vlm::nn
