#include "nn/linear.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/ops.h"

namespace vlm::nn {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
}

at::Tensor LinearImpl::forward_base(const at::Tensor& x) const {
  return ops::linear(x, weight, bias);
}

std::optional<ops::LowRank> LinearImpl::low_rank(at::ScalarType dtype) const {
  if (!adapter_) return ops::LowRank{};
  const auto factors = adapter_->inference_factors(dtype);
  if (!factors) return std::nullopt;
  ops::LowRank lr;
  lr.a = factors->first;
  lr.paths.push_back({0, 0, factors->second});
  return lr;
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  if (!adapter_) return forward_base(x);
  if (!at::GradMode::is_enabled())
    if (const auto lr = low_rank(x.scalar_type())) return ops::linear(x, weight, bias, *lr);
  return adapter_->forward(x, *this);
}

at::Tensor LinearImpl::forward_swiglu(const at::Tensor& gate, const at::Tensor& up) {
  if (!adapter_) return forward_base(ops::swiglu(gate, up));
  if (!at::GradMode::is_enabled())
    if (const auto lr = low_rank(gate.scalar_type())) return ops::linear(ops::swiglu(gate, up), weight, bias, *lr);
  return adapter_->forward_swiglu(gate, up, *this);
}

at::Tensor LinearAdapter::forward_swiglu(const at::Tensor& gate, const at::Tensor& up, const LinearImpl& base) {
  return forward(ops::swiglu(gate, up), base);
}

std::optional<LowRankPath> LinearAdapter::low_rank_path(const at::Tensor&, const LinearImpl&) const {
  return std::nullopt;
}

std::optional<std::pair<at::Tensor, at::Tensor>> LinearAdapter::inference_factors(at::ScalarType) {
  return std::nullopt;
}

const JoinedLinear::Product* JoinedLinear::get(const std::vector<LinearImpl*>& layers, at::ScalarType dtype) {
  std::vector<ops::LowRank> low_ranks;
  std::vector<at::Tensor> factors;
  for (LinearImpl* l : layers) {
    auto lr = l->low_rank(dtype);
    if (!lr) return nullptr;
    if (!lr->empty()) factors.insert(factors.end(), {lr->a, lr->paths[0].bs});
    low_ranks.push_back(std::move(*lr));
  }
  std::vector<std::pair<const void*, uint32_t>> source;
  for (LinearImpl* l : layers)
    for (const at::Tensor* t : {&l->weight, &l->bias})
      if (t->defined()) source.emplace_back(t->data_ptr(), t->is_inference() ? 0u : t->_version());
  const bool same_factors = factors.size() == factors_.size() &&
                            std::equal(factors.begin(), factors.end(), factors_.begin(),
                                       [](const at::Tensor& a, const at::Tensor& b) { return a.is_same(b); });
  if (source == source_ && same_factors && product_.weight.defined()) return &product_;
  std::vector<at::Tensor> weights, biases, a;
  Product p;
  int64_t c0 = 0, o = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    weights.push_back(layers[i]->weight);
    if (layers[i]->bias.defined()) biases.push_back(layers[i]->bias);
    if (!low_ranks[i].empty()) {
      const ops::LowRank::Path& path = low_ranks[i].paths[0];
      a.push_back(low_ranks[i].a);
      p.low_rank.paths.push_back({c0, o, path.bs});
      o += low_ranks[i].a.size(0);
    }
    c0 += layers[i]->out_features;
  }
  VLM_CHECK(biases.empty() || biases.size() == layers.size(), "joined linear layers must all have a bias or none");
  p.weight = weights.size() == 1 ? weights[0] : at::cat(weights, 0);
  if (!biases.empty()) p.bias = biases.size() == 1 ? biases[0] : at::cat(biases, 0);
  if (!a.empty()) p.low_rank.a = a.size() == 1 ? a[0] : at::cat(a, 0);
  product_ = std::move(p);
  source_ = std::move(source);
  factors_ = std::move(factors);
  return &product_;
}

void LinearImpl::set_adapter(std::shared_ptr<LinearAdapter> adapter) {
  if (adapter_) unregister_module("adapter");
  adapter_ = std::move(adapter);
  if (adapter_) register_module("adapter", adapter_);
}

}  // namespace vlm::nn
