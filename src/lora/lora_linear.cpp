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

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A frozen linear layer with a LoRA side path (no dropout, no DoRA) as one autograd node:
//   y = x W^T + b + h Bs^T with h = x A^T, Bs = scale * B (A and Bs cast to x's dtype);
// backward: dh = dy Bs, dx = dy W + dh A (the side path's share added by the same product), dA = dh^T x,
// dB = scale * dy^T h, both in float32 as the parameters are. Keeps x and the small h, A, Bs. A layer without bias
// passes an empty tensor (libtorch 1.13's autograd functions take no undefined tensor arguments).
class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            const at::Tensor& lora_A, const at::Tensor& lora_B, double scale) {
    const at::Tensor A = lora_A.to(x.scalar_type()), Bs = (lora_B * scale).to(x.scalar_type());
    const at::Tensor x2 = x.reshape({-1, x.size(-1)});
    const at::Tensor h = at::mm(x2, A.t());  // [N, r]
    at::Tensor y = bias.numel() > 0 ? at::addmm(bias, x2, weight.t()) : at::mm(x2, weight.t());
    y.addmm_(h, Bs.t());
    ctx->save_for_backward({x, weight, A, Bs, h});
    ctx->saved_data["scale"] = scale;
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    return y.view(sizes);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &A = saved[2], &Bs = saved[3], &h = saved[4];
    const at::Tensor dy = grads[0].reshape({-1, weight.size(0)});
    const at::Tensor dh = at::mm(dy, Bs);  // [N, r]
    at::Tensor dx, dA, dB;
    if (ctx->needs_input_grad(0)) dx = at::mm(dy, weight).addmm_(dh, A).view(x.sizes());
    if (ctx->needs_input_grad(3)) dA = at::mm(dh.t(), x.reshape({-1, x.size(-1)})).to(at::kFloat);
    if (ctx->needs_input_grad(4))
      dB = at::mm(dy.t(), h).to(at::kFloat).mul_(ctx->saved_data["scale"].toDouble());
    return {dx, at::Tensor(), at::Tensor(), dA, dB, at::Tensor()};
  }
};

}  // namespace

at::Tensor LoraAdapter::forward(const at::Tensor& x, const nn::LinearImpl& base) {
  const at::ScalarType dtype = x.scalar_type();
  const bool drop = settings_.dropout > 0 && is_training();
  const bool frozen_base = !base.weight.requires_grad() && !(base.bias.defined() && base.bias.requires_grad());
  if (!settings_.dora && !drop && frozen_base && at::GradMode::is_enabled() &&
      (x.requires_grad() || lora_A.requires_grad() || lora_B.requires_grad()) && x.dim() > 0)
    return LoraLinearFunction::apply(x, base.weight, base.bias.defined() ? base.bias : base.weight.new_empty({0}),
                                     lora_A, lora_B, scale_);
  const at::Tensor base_out = base.forward_base(x);
  const at::Tensor A = lora_A.to(dtype);  // [r, in]

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
