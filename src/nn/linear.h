// Linear layer whose parameters are named as in checkpoints ("weight", "bias"), with an optional adapter side path
// that LoRA / DoRA attach from outside the model (src/lora): the model code never knows about adapters.
#pragma once

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "kernels/ops.h"

namespace vlm::nn {

class LinearImpl;

// A plain low-rank side path (LoRA, not DoRA): out += scale * (dropout(x) A^T) B^T with the float32 parameters
// lora_A [r, in] and lora_B [out, r], dropout with probability `dropout` (0 when it is not active: out of training,
// or none configured).
struct LowRankPath {
  at::Tensor lora_A, lora_B;
  double scale = 1.0;
  double dropout = 0.0;
};

// A side path added to a linear layer: forward gets the layer's input and the layer (whose forward_base gives the
// base output) and returns the final output (LoRA adds B(A(x)) * scale; DoRA also rescales the base output).
class LinearAdapter : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const LinearImpl& base) = 0;
  // The layer applied to silu(gate) * up (a SwiGLU MLP's down projection); by default the product, then forward.
  virtual at::Tensor forward_swiglu(const at::Tensor& gate, const at::Tensor& up, const LinearImpl& base);
  // The side path for input x when it is a plain low-rank product, so that layers sharing x may run it inside one
  // grouped node (nn/linear_group.h); nullopt otherwise (the default).
  virtual std::optional<LowRankPath> low_rank_path(const at::Tensor& x, const LinearImpl& base) const;
  // For inference (autograd off): the side path as factors in `dtype`, A [r, in] and Bs = scale * B [out, r], when it
  // is a plain low-rank product (LoRA without active dropout, not DoRA); nullopt otherwise (the default). The same
  // tensors come back until the parameters change.
  virtual std::optional<std::pair<at::Tensor, at::Tensor>> inference_factors(at::ScalarType dtype);
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias);

  at::Tensor forward(const at::Tensor& x);
  // forward(silu(gate) * up), letting an adapter fuse the product into its autograd function.
  at::Tensor forward_swiglu(const at::Tensor& gate, const at::Tensor& up);
  // The base layer alone, without the adapter.
  at::Tensor forward_base(const at::Tensor& x) const;
  // For inference: the adapter's side path as ops::LowRank (empty without an adapter), or nullopt when the adapter is
  // not a plain low-rank product. With autograd off, forward runs ops::linear with it: the base product and the side
  // path's h in one product where the matrix-vector kernel runs, then one kernel adds h Bs^T.
  std::optional<ops::LowRank> low_rank(at::ScalarType dtype) const;

  // Attaches (or with nullptr removes) the adapter, registered as the submodule "adapter".
  void set_adapter(std::shared_ptr<LinearAdapter> adapter);
  const std::shared_ptr<LinearAdapter>& adapter() const { return adapter_; }

  int64_t in_features, out_features;
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined

 private:
  std::shared_ptr<LinearAdapter> adapter_;
};
TORCH_MODULE(Linear);

// Linear layers sharing their input, joined for inference into one product: their weights (and biases, all or none)
// concatenated along the output, and their side paths as one ops::LowRank over the joined output (A factors
// stacked). Cached: rebuilt when a weight, bias or factor changes (weights by address and version; factors are new
// tensors after every change, and are kept here so that their addresses cannot come back).
class JoinedLinear {
 public:
  struct Product {
    at::Tensor weight, bias;
    ops::LowRank low_rank;
  };
  // nullopt when an adapter of theirs is not a plain low-rank product (LinearImpl::low_rank).
  const Product* get(const std::vector<LinearImpl*>& layers, at::ScalarType dtype);

 private:
  Product product_;
  std::vector<std::pair<const void*, uint32_t>> source_;
  std::vector<at::Tensor> factors_;
};

}  // namespace vlm::nn
