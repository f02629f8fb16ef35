// Linear layer whose parameters are named as in checkpoints ("weight", "bias"), with an optional adapter side path
// that LoRA / DoRA attach from outside the model (src/lora): the model code never knows about adapters.
#pragma once

#include <memory>
#include <optional>

#include <torch/torch.h>

namespace vlm::nn {

class LinearImpl;

// A plain low-rank side path (LoRA without active dropout or DoRA): out += scale * (x A^T) B^T with the float32
// parameters lora_A [r, in] and lora_B [out, r].
struct LowRankPath {
  at::Tensor lora_A, lora_B;
  double scale = 1.0;
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
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias);

  at::Tensor forward(const at::Tensor& x);
  // forward(silu(gate) * up), letting an adapter fuse the product into its autograd function.
  at::Tensor forward_swiglu(const at::Tensor& gate, const at::Tensor& up);
  // The base layer alone, without the adapter.
  at::Tensor forward_base(const at::Tensor& x) const;

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

}  // namespace vlm::nn
