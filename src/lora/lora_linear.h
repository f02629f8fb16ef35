// The LoRA / DoRA side path of one linear layer (an nn::LinearAdapter attached from outside the model), computed
// as HF PEFT 0.21 does:
//   LoRA:  y = W x + b + scale * B(A(dropout(x)))
//   DoRA:  y = W x + b + (m / n - 1) * W x' + (m / n) * scale * B(A(x'))
//          n = ||W + scale * B A|| per output row, detached (no gradient through the norm, DoRA paper 4.3);
//          x' = dropout(x) while training with dropout > 0 (then W x' is recomputed), else x' = x and W x is the base
//          output less its bias.
//   scale = alpha / r, or alpha / sqrt(r) with rsLoRA.
// Parameters are float32 ("master" weights) on the base weight's device whatever the base dtype; the side path runs
// in the input's dtype (A, B and m are cast), as PEFT under autocast.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "nn/linear.h"

namespace vlm::lora {

// What PEFT's LoraConfig says about one adapter (shared by every wrapped layer: no rank_pattern / alpha_pattern).
struct LoraSettings {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0;
  bool rslora = false;
  bool dora = false;
  std::string init = "default";  // "default" (PEFT's init_lora_weights=True) or "gaussian"

  // alpha / r, or alpha / sqrt(r) with rsLoRA.
  double scale() const;
};

class LoraAdapter : public nn::LinearAdapter {
 public:
  // Creates A [r, in] and B [out, r] (and for DoRA the magnitude [out] = ||W|| per row) for `base`, initialised as
  // settings.init says (B is zero, so the layer's output is unchanged). Uses the global torch generator.
  LoraAdapter(const nn::LinearImpl& base, const LoraSettings& settings);
  // Same, but with scale given directly (mlx-vlm adapters store it instead of alpha). A, B (and m) are left
  // uninitialised: the caller copies loaded tensors in.
  LoraAdapter(const nn::LinearImpl& base, const LoraSettings& settings, double scale);

  // Under autograd, plain LoRA (with or without dropout) on a frozen base layer runs as one autograd function (base
  // and side path forward and backward together: no separate add of the side path's input gradient), which
  // accumulates the factors' gradients into lora_A.grad() and lora_B.grad() itself (float32, created when
  // undefined) rather than handing them to autograd, and draws its dropout mask from a seed (ops::dropout), so that
  // backward draws it again rather than keeping it; otherwise as written.
  at::Tensor forward(const at::Tensor& x, const nn::LinearImpl& base) override;
  // The same for a SwiGLU MLP's down projection: one node that keeps gate and up rather than their product.
  at::Tensor forward_swiglu(const at::Tensor& gate, const at::Tensor& up, const nn::LinearImpl& base) override;

  // Plain LoRA (not DoRA) on a frozen base layer under autograd: {A, B, scale, the active dropout}, for grouped
  // layers (nn/linear_group.h); nullopt otherwise.
  std::optional<nn::LowRankPath> low_rank_path(const at::Tensor& x, const nn::LinearImpl& base) const override;

  // scale * B @ A in float32, [out, in].
  at::Tensor delta_weight() const;
  // The weight that makes the plain linear layer equal to layer + adapter, in float32 [out, in]:
  // LoRA W + delta; DoRA m / ||W + delta||_row * (W + delta) (the bias is unchanged in both).
  at::Tensor merged_weight(const at::Tensor& base_weight) const;

  // {A, scale * B} in `dtype` (cached as for the fused functions) unless DoRA or dropout while training.
  std::optional<std::pair<at::Tensor, at::Tensor>> inference_factors(at::ScalarType dtype) override;

  const LoraSettings& settings() const { return settings_; }
  double scale() const { return scale_; }

  at::Tensor lora_A;     // [r, in]  float32
  at::Tensor lora_B;     // [out, r] float32
  at::Tensor magnitude;  // [out] float32, DoRA only (PEFT's lora_magnitude_vector); undefined for LoRA

 private:
  void create_parameters(const nn::LinearImpl& base);
  // Whether forward runs as one fused autograd function (see forward).
  bool fused(const at::Tensor& x, const nn::LinearImpl& base) const;
  // The dropout probability in effect: the configured one while training, else 0.
  double active_dropout() const;
  void initialise(const nn::LinearImpl& base);
  // {A, scale * B} in `dtype` for the fused functions, without autograd history. Cast again only when the
  // parameters changed (their version counters move with every in-place update, such as an optimizer step), so a
  // training step casts each factor once, not at every forward and recomputation.
  std::pair<at::Tensor, at::Tensor> cast_factors(at::ScalarType dtype);

  struct CastFactors {
    at::Tensor A, Bs;
    at::ScalarType dtype = at::kFloat;
    int64_t version_A = -1, version_B = -1;
    const void* data_A = nullptr;
    const void* data_B = nullptr;
  };

  LoraSettings settings_;
  double scale_;
  CastFactors cast_;
};

// Row norms of `weight` + delta in float32: [out]. DoRA's n (and its magnitude at initialisation).
at::Tensor dora_row_norm(const at::Tensor& weight, const at::Tensor& delta);

}  // namespace vlm::lora
