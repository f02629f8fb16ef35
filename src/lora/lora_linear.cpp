#include "lora/lora_linear.h"

#include <cmath>

#include "core/error.h"

namespace vlm::lora {

double LoraSettings::scale() const {
  VLM_CHECK(r > 0, "LoRA rank r must be positive, got ", r);
  return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

at::Tensor dora_row_norm(const at::Tensor& weight, const at::Tensor& delta) {
  // PEFT: torch.linalg.norm(W + scale * B @ A, dim=1): the L2 norm of each output row.
  return (weight.to(at::kFloat) + delta.to(at::kFloat)).norm(2, {1});
}

LoraAdapter::LoraAdapter(const nn::LinearImpl& base, const LoraSettings& settings)
    : settings_(settings), scale_(settings.scale()) {
  create_parameters(base);
  initialise(base);
}

LoraAdapter::LoraAdapter(const nn::LinearImpl& base, const LoraSettings& settings, double scale)
    : settings_(settings), scale_(scale) {
  create_parameters(base);
}

void LoraAdapter::create_parameters(const nn::LinearImpl& base) {
  VLM_CHECK(settings_.r > 0, "LoRA rank r must be positive, got ", settings_.r);
  VLM_CHECK(settings_.dropout >= 0 && settings_.dropout < 1, "LoRA dropout must be in [0, 1), got ",
            settings_.dropout);
  const auto options = base.weight.options().dtype(at::kFloat);
  lora_A = register_parameter("lora_A", torch::zeros({settings_.r, base.in_features}, options));
  lora_B = register_parameter("lora_B", torch::zeros({base.out_features, settings_.r}, options));
  if (settings_.dora) magnitude = register_parameter("lora_magnitude_vector", torch::zeros({base.out_features}, options));
}

void LoraAdapter::initialise(const nn::LinearImpl& base) {
  torch::NoGradGuard no_grad;
  if (settings_.init == "default") {
    // PEFT (init_lora_weights=True): kaiming_uniform_(A, a=sqrt(5)), i.e. uniform(-1/sqrt(in), 1/sqrt(in)).
    const double bound = 1.0 / std::sqrt(static_cast<double>(base.in_features));
    lora_A.uniform_(-bound, bound);
  } else if (settings_.init == "gaussian") {
    // PEFT: nn.init.normal_(A, std=1 / r).
    lora_A.normal_(0.0, 1.0 / static_cast<double>(settings_.r));
  } else {
    fail("LoRA init ", quote(settings_.init), " is not supported (expected \"default\" or \"gaussian\")");
  }
  lora_B.zero_();
  // DoRA: m = ||W + scale * B A|| per row = ||W|| while B is zero.
  if (settings_.dora) magnitude.copy_(dora_row_norm(base.weight.detach(), delta_weight()));
}

at::Tensor LoraAdapter::delta_weight() const {
  return at::matmul(lora_B.to(at::kFloat), lora_A.to(at::kFloat)) * scale_;
}

at::Tensor LoraAdapter::merged_weight(const at::Tensor& base_weight) const {
  const at::Tensor w = base_weight.detach().to(at::kFloat) + delta_weight().detach();
  if (!settings_.dora) return w;
  // PEFT's DoRA merge: m / ||W + dW|| (per output row) times (W + dW).
  const at::Tensor norm = w.norm(2, {1});
  return (magnitude.detach().to(at::kFloat) / norm).unsqueeze(1) * w;
}

at::Tensor LoraAdapter::forward(const at::Tensor& x, const at::Tensor& base_out, const nn::LinearImpl& base) {
  const at::ScalarType dtype = x.scalar_type();
  const at::Tensor A = lora_A.to(dtype);  // [r, in]
  const bool drop = settings_.dropout > 0 && is_training();

  if (!settings_.dora) {
    // base_out + scale * B A x as one product added onto base_out (scale folded into B in fp32 before the cast):
    // no separate scaling and addition passes over the output, forward or backward.
    const at::Tensor xd = drop ? torch::dropout(x, settings_.dropout, true) : x;
    const at::Tensor scaled_B = (lora_B * scale_).to(dtype);  // [out, r]
    const at::Tensor h = at::linear(xd, A);                    // [..., r]
    const int64_t out = base_out.size(-1);
    return at::addmm(base_out.reshape({-1, out}), h.reshape({-1, h.size(-1)}), scaled_B.t()).view(base_out.sizes());
  }
  const at::Tensor B = lora_B.to(dtype);  // [out, r]

  // DoRA. n = ||W + scale * B A||_row, detached; computed in float32 (PEFT runs it in the input's dtype, which is
  // float32 there as it casts x to the adapter's dtype).
  at::Tensor norm;
  {
    torch::NoGradGuard no_grad;
    norm = dora_row_norm(base.weight.detach(), delta_weight());
  }
  const at::Tensor mag_norm_scale = (magnitude / norm).to(dtype).view({1, -1});  // [1, out]
  at::Tensor xd = x, base_result;
  if (drop) {
    // With active dropout PEFT recomputes W x' on the dropped input (no bias).
    xd = torch::dropout(x, settings_.dropout, true);
    base_result = at::linear(xd, base.weight.to(dtype));
  } else {
    base_result = base.bias.defined() ? base_out - base.bias : base_out;
  }
  const at::Tensor lora_result = at::linear(at::linear(xd, A), B);
  return base_out + ((mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scale_);
}

}  // namespace vlm::lora
