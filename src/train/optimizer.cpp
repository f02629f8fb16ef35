#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/torch_compat.h"

namespace vlm::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  VLM_CHECK(options_.beta1 >= 0 && options_.beta1 < 1, "adam beta1 must be in [0, 1), got ", options_.beta1);
  VLM_CHECK(options_.beta2 >= 0 && options_.beta2 < 1, "adam beta2 must be in [0, 1), got ", options_.beta2);
  VLM_CHECK(options_.eps > 0, "adam eps must be > 0, got ", options_.eps);
  VLM_CHECK(options_.weight_decay >= 0, "weight decay must be >= 0, got ", options_.weight_decay);
  for (const auto& [name, p] : params_) {
    VLM_CHECK(p.requires_grad(), "optimizer parameter ", name, " does not require grad");
    exp_avg_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, static_cast<double>(step_)));
  const double step_size = lr / bias1;
  // PyTorch's AdamW update, over all parameters with a gradient at once (multi-tensor kernels: a few launches a
  // step instead of seven a parameter).
  std::vector<at::Tensor> p, g, m, v;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor grad = params_[i].second.grad();
    if (!grad.defined()) continue;
    p.push_back(params_[i].second);
    g.push_back(grad);
    m.push_back(exp_avg_[i]);
    v.push_back(exp_avg_sq_[i]);
  }
  if (p.empty()) return;
  if (options_.weight_decay != 0) at::_foreach_mul_(p, 1.0 - lr * options_.weight_decay);
  compat::foreach_lerp_(m, g, 1.0 - options_.beta1);
  at::_foreach_mul_(v, options_.beta2);
  at::_foreach_addcmul_(v, g, g, 1.0 - options_.beta2);
  std::vector<at::Tensor> denom = at::_foreach_sqrt(v);
  at::_foreach_div_(denom, bias2_sqrt);
  at::_foreach_add_(denom, options_.eps);
  at::_foreach_addcdiv_(p, m, denom, -step_size);
}

at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return {};
  std::vector<at::Tensor> norms = compat::foreach_norm(grads);
  const bool one_dtype = std::all_of(norms.begin(), norms.end(),
                                     [&](const at::Tensor& n) { return n.scalar_type() == norms[0].scalar_type(); });
  if (!one_dtype)
    for (at::Tensor& n : norms) n = n.to(at::kFloat);
  const at::Tensor total = at::stack(norms).to(at::kFloat).norm(2);  // one cast, not one per gradient
  const at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  compat::foreach_mul_(grads, coef);
  return total;
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].first + ".exp_avg", exp_avg_[i].to(at::kCPU).contiguous());
    out.emplace_back(params_[i].first + ".exp_avg_sq", exp_avg_sq_[i].to(at::kCPU).contiguous());
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& tensors, int64_t steps,
                       const std::string& origin) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto [suffix, target] : {std::pair{".exp_avg", &exp_avg_[i]}, std::pair{".exp_avg_sq", &exp_avg_sq_[i]}}) {
      const std::string key = params_[i].first + suffix;
      const auto it = by_name.find(key);
      VLM_CHECK(it != by_name.end(), origin, ": optimizer state has no tensor ", quote(key));
      VLM_CHECK(it->second.sizes() == target->sizes(), origin, ": optimizer state ", quote(key), " has shape ",
                it->second.sizes(), ", the parameter ", target->sizes());
      target->copy_(it->second);
    }
  VLM_CHECK(steps >= 0, origin, ": negative optimizer step count");
  step_ = steps;
}

}  // namespace vlm::train
