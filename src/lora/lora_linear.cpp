#include "lora/lora_linear.h"

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"
#include "nn/linear_group.h"

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

// A frozen linear layer with a LoRA side path (not DoRA) as one autograd node, on rows x [N, in], with the factors
// already in x's dtype (A [r, in] and Bs = scale * B [out, r], see LoraAdapter::cast_factors): the layer as a group
// of one (nn::low_rank_forward / low_rank_backward): y = x W^T + b + (dropout(x) A^T) Bs^T, the dropout (when
// active) drawn from a seed, so that backward draws the mask again instead of keeping it; in backward the factors'
// float32 gradients go straight into lora_A.grad and lora_B.grad, and the functions below return none for them, so
// autograd adds nothing on top.
// A layer without bias passes an empty tensor (libtorch 1.13's autograd functions take no undefined tensors).
nn::LowRankLayout one_path(int64_t out, int64_t r, double scale, double dropout, int64_t seed) {
  return {{out}, {r}, {scale}, {dropout}, {seed}};
}

void save_factors(AutogradContext* ctx, const at::Tensor& lora_A, const at::Tensor& lora_B, double scale,
                  double dropout, int64_t seed) {
  ctx->saved_data["params"] = std::vector<at::Tensor>{lora_A, lora_B};
  ctx->saved_data["scale"] = scale;
  ctx->saved_data["dropout"] = dropout;
  ctx->saved_data["seed"] = seed;
}

// dx (when need_dx) for dy [N, out] and rows x [N, in], accumulating the factors' gradients.
at::Tensor lora_rows_backward(AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& x2,
                              const at::Tensor& weight, const at::Tensor& A, const at::Tensor& Bs, const at::Tensor& h,
                              bool need_dx) {
  const nn::LowRankLayout layout = one_path(weight.size(0), A.size(0), ctx->saved_data["scale"].toDouble(),
                                            ctx->saved_data["dropout"].toDouble(), ctx->saved_data["seed"].toInt());
  return nn::low_rank_backward(dy, x2, weight, A, Bs, h, layout, ctx->saved_data["params"].toTensorVector(),
                               need_dx);
}

std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> out = sizes.vec();
  out.back() = last;
  return out;
}

// The layer as one autograd node; keeps x and the small h, A, Bs. Inputs: x, weight, bias, the parameters A and B
// (so that the node is recorded whenever they train), their casts A and Bs, the scale, and the dropout probability
// (0: none) with its mask's seed.
class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            const at::Tensor& lora_A, const at::Tensor& lora_B, const at::Tensor& A,
                            const at::Tensor& Bs, double scale, double dropout, int64_t seed) {
    const auto [y, h] = nn::low_rank_forward(x.reshape({-1, x.size(-1)}), weight, bias, A, Bs,
                                             one_path(weight.size(0), A.size(0), scale, dropout, seed));
    ctx->save_for_backward({x, weight, A, Bs, h});
    save_factors(ctx, lora_A, lora_B, scale, dropout, seed);
    return y.view(with_last(x.sizes(), weight.size(0)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1];
    const at::Tensor dx = lora_rows_backward(ctx, grads[0].reshape({-1, weight.size(0)}), x.reshape({-1, x.size(-1)}),
                                             weight, s[2], s[3], s[4], ctx->needs_input_grad(0));
    return {dx.defined() ? dx.view(x.sizes()) : dx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The same layer applied to silu(gate) * up (a SwiGLU MLP's down projection) as one node that keeps gate and up
// (which SwiGLU needs anyway) instead of their product: backward forms the product again (one element-wise pass)
// and ends with SwiGLU's gradients. One activation of the MLP's width less per layer than two nodes.
class LoraSwigluLinearFunction : public torch::autograd::Function<LoraSwigluLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up,
                            const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& A, const at::Tensor& Bs, double scale,
                            double dropout, int64_t seed) {
    const at::Tensor act = ops::swiglu(gate, up);  // grad mode is off in here: the kernel or the reference
    const auto [y, h] = nn::low_rank_forward(act.reshape({-1, act.size(-1)}), weight, bias, A, Bs,
                                             one_path(weight.size(0), A.size(0), scale, dropout, seed));
    ctx->save_for_backward({gate, up, weight, A, Bs, h});
    save_factors(ctx, lora_A, lora_B, scale, dropout, seed);
    return y.view(with_last(act.sizes(), weight.size(0)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &gate = s[0], &up = s[1], &weight = s[2];
    const at::Tensor act = ops::swiglu(gate, up);
    const bool need_act = ctx->needs_input_grad(0) || ctx->needs_input_grad(1);
    const at::Tensor dact = lora_rows_backward(ctx, grads[0].reshape({-1, weight.size(0)}),
                                               act.reshape({-1, act.size(-1)}), weight, s[3], s[4], s[5], need_act);
    at::Tensor dgate, dup;
    if (need_act) std::tie(dgate, dup) = ops::swiglu_backward(gate, up, dact.view(gate.sizes()));
    return {dgate, dup, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor bias_or_empty(const nn::LinearImpl& base) {
  return base.bias.defined() ? base.bias : base.weight.new_empty({0});
}

}  // namespace

double LoraAdapter::active_dropout() const { return is_training() ? settings_.dropout : 0.0; }

bool LoraAdapter::fused(const at::Tensor& x, const nn::LinearImpl& base) const {
  const bool frozen_base = !base.weight.requires_grad() && !(base.bias.defined() && base.bias.requires_grad());
  return !settings_.dora && frozen_base && at::GradMode::is_enabled() && x.dim() > 0 &&
         (x.requires_grad() || lora_A.requires_grad() || lora_B.requires_grad());
}

namespace {

// A fresh mask's seed for a forward with dropout p (0: none).
int64_t seed_for(double p) { return p > 0 ? static_cast<int64_t>(ops::dropout_seed()) : 0; }

}  // namespace

namespace {

// A tensor's version counter; inference tensors (an adapter loaded under inference mode) have none and never change.
int64_t version_of(const at::Tensor& t) { return t.is_inference() ? 0 : static_cast<int64_t>(t._version()); }

}  // namespace

std::pair<at::Tensor, at::Tensor> LoraAdapter::cast_factors(at::ScalarType dtype) {
  CastFactors& c = cast_;
  // Cast again also when the cached ones were made under inference mode and this call is not: autograd cannot save
  // inference tensors.
  if (!c.A.defined() || c.dtype != dtype || c.version_A != version_of(lora_A) || c.version_B != version_of(lora_B) ||
      c.data_A != lora_A.data_ptr() || c.data_B != lora_B.data_ptr() ||
      (c.A.is_inference() && !c10::InferenceMode::is_enabled())) {
    torch::NoGradGuard no_grad;
    // Fresh tensors (a graph may still hold the old ones), both written by one launch; B scaled in float32 and
    // rounded once.
    c.A = at::empty(lora_A.sizes(), lora_A.options().dtype(dtype));
    c.Bs = at::empty(lora_B.sizes(), lora_B.options().dtype(dtype));
    ops::cast_scale({{lora_A.detach(), c.A, 1.0}, {lora_B.detach(), c.Bs, scale_}});
    c.dtype = dtype;
    c.version_A = version_of(lora_A);
    c.version_B = version_of(lora_B);
    c.data_A = lora_A.data_ptr();
    c.data_B = lora_B.data_ptr();
  }
  return {c.A, c.Bs};
}

std::optional<std::pair<at::Tensor, at::Tensor>> LoraAdapter::inference_factors(at::ScalarType dtype) {
  if (settings_.dora || active_dropout() > 0) return std::nullopt;
  return cast_factors(dtype);
}

std::optional<nn::LowRankPath> LoraAdapter::low_rank_path(const at::Tensor& x, const nn::LinearImpl& base) const {
  if (!fused(x, base)) return std::nullopt;
  return nn::LowRankPath{lora_A, lora_B, scale_, active_dropout()};
}

at::Tensor LoraAdapter::forward_swiglu(const at::Tensor& gate, const at::Tensor& up, const nn::LinearImpl& base) {
  if (!fused(gate, base) || gate.sizes() != up.sizes() || gate.scalar_type() != up.scalar_type())
    return forward(ops::swiglu(gate, up), base);
  const auto [A, Bs] = cast_factors(gate.scalar_type());
  const double p = active_dropout();
  return LoraSwigluLinearFunction::apply(gate, up, base.weight, bias_or_empty(base), lora_A, lora_B, A, Bs, scale_, p,
                                         seed_for(p));
}

at::Tensor LoraAdapter::forward(const at::Tensor& x, const nn::LinearImpl& base) {
  const at::ScalarType dtype = x.scalar_type();
  const bool drop = active_dropout() > 0;
  if (fused(x, base)) {
    const auto [A, Bs] = cast_factors(dtype);
    const double p = active_dropout();
    return LoraLinearFunction::apply(x, base.weight, bias_or_empty(base), lora_A, lora_B, A, Bs, scale_, p,
                                     seed_for(p));
  }
  const at::Tensor base_out = base.forward_base(x);
  const at::Tensor A = lora_A.to(dtype);  // [r, in]

  if (!settings_.dora) {
    // base_out + scale * B A x as one product added onto base_out (scale folded into B in fp32 before the cast):
    // no separate scaling and addition passes over the output, forward or backward.
    // The fused functions' seeded mask: a checkpointed layer runs here without grad and fused when recomputed,
    // and both must draw the same masks.
    const at::Tensor xd = drop ? ops::dropout(x, settings_.dropout, ops::dropout_seed()) : x;
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
