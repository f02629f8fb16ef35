// Normalisation layers named as in checkpoints.
#pragma once

#include <torch/torch.h>

namespace vlm::nn {

// RMSNorm as Llama/Qwen: normalise in fp32, cast back to the input dtype, multiply by weight.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// Either of the two, chosen at construction (families switch between them per config).
class NormImpl : public torch::nn::Module {
 public:
  enum class Kind { kLayerNorm, kRMSNorm };
  NormImpl(Kind kind, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  Kind kind;
  double eps;
  at::Tensor weight, bias;  // bias only for LayerNorm
};
TORCH_MODULE(Norm);

}  // namespace vlm::nn
