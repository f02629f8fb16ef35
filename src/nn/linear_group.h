// Frozen linear layers that read one input (q, k, v; gate and up) run as one product over their weights stacked in
// one tensor, under autograd as one node, with their LoRA side paths (LinearAdapter::low_rank_path, with or
// without dropout) riding along in the same node: one node and a few large GEMMs where there were one node and three
// to five GEMMs a layer, and no gradient adds for the shared input. The SwiGLU MLP runs as one node in all
// (swiglu_mlp).
//
// On first use the layers' weights (and biases) are copied into one stacked tensor and the parameters become row
// blocks of it (views: no second copy of the weights); a weight replaced since (loading, .to()) is stacked again.
// The side paths' factors are cast once per parameter update into the stacked A [sum r, in] and the
// block-diagonal scale * B [sum out, sum r] (one launch); their float32 gradients are accumulated into the
// parameters' .grad directly, as LoraAdapter's own fused function does.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "nn/linear.h"

namespace vlm::nn {

// Layers side by side along the output: each one's output width, side-path rank (0 without one) and scale, and
// for side paths with dropout its probability and the seed of this forward's mask (ops::dropout; both empty, or
// one entry a layer with 0 where a path has no dropout).
struct LowRankLayout {
  std::vector<int64_t> outs, ranks;
  std::vector<double> scales;
  std::vector<double> dropouts;
  std::vector<int64_t> seeds;
  // Layer i's side path drops its input.
  bool drops(size_t i) const { return i < dropouts.size() && dropouts[i] > 0; }
};

// Rows x [N, in] through the stacked weight W [sum out, in] (bias b [sum out] or empty) and the side paths:
// y = x W^T + b + h Bs^T with h = x A^T (A [sum r, in], Bs [sum out, sum r]; no side product when sum r = 0), where
// a path with dropout reads its own mask's dropout(x) instead of x (its block of h: dropout_i(x) A_i^T).
// Returns {y, h} (h undefined without side paths).
std::pair<at::Tensor, at::Tensor> low_rank_forward(const at::Tensor& x, const at::Tensor& W, const at::Tensor& b,
                                                   const at::Tensor& A, const at::Tensor& Bs,
                                                   const LowRankLayout& layout);
// Its backward for dy [N, sum out]: dh = dy Bs; each side path's gradients accumulated in float32 into its
// parameters' .grad (params: lora_A and lora_B of every layer with a rank, in order; those requiring grad):
// A.grad += dh_i^T x_i, B.grad += scale_i dy_i^T h_i, with x_i = x or the path's dropout(x) drawn again from its
// seed. Returns dx = dy W + sum_i d(x_i)/dx (dh_i A_i) when need_dx (dh A without dropout), else undefined.
at::Tensor low_rank_backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& W, const at::Tensor& A,
                             const at::Tensor& Bs, const at::Tensor& h, const LowRankLayout& layout,
                             const std::vector<at::Tensor>& params, bool need_dx);

// The caches of one group of layers (a module keeps one per group and passes the same layers every call).
class LinearGroup {
 public:
  // Whether the grouped node applies to x: autograd recording, layers of one input width, x's dtype and device, frozen
  // base weights and biases (all with a bias or none), every adapter a plain low-rank path or none.
  static bool groupable(const std::vector<LinearImpl*>& layers, const at::Tensor& x);
  // Whether anything would get a gradient: x, or a side path's parameters.
  static bool trains(const std::vector<LinearImpl*>& layers, const at::Tensor& x);
  // Off: groupable is always false (the layers run one by one; for tests and benchmarks comparing the two).
  static inline bool enabled = true;

  // The layers' outputs for x [..., in], each [..., out_i] (column blocks of one tensor), as one node. Needs
  // groupable.
  std::vector<at::Tensor> forward(const at::Tensor& x, const std::vector<LinearImpl*>& layers);

  // What the node runs on for x, refreshed: the stacked weight and bias, the factors cast to x's dtype, the layout
  // (with a fresh seed for each side path with dropout: one call a forward), and the side paths' parameters
  // (lora_A, lora_B per layer with a rank).
  struct Prepared {
    at::Tensor weight, bias, A, Bs;
    LowRankLayout layout;
    std::vector<at::Tensor> params;
  };
  Prepared prepare(const std::vector<LinearImpl*>& layers, const at::Tensor& x);

 private:
  at::Tensor weight_, bias_, A_, Bs_;
  // What A_ and Bs_ were cast from: each parameter's address and version, and the scales.
  std::vector<std::pair<const void*, int64_t>> factor_source_;
  std::vector<double> factor_scales_;
};

// down(silu(gate(x)) * up(x)) for gate_up_layers = {gate, up} (one input width, same output width) and the down
// projection, as one node that keeps x and the gate/up product (not the activation, formed again in backward), or
// without keep_product only x and the side paths' small h: backward then forms the product again (one product more,
// the same numbers and dropout masks). Needs LinearGroup::groupable for both groups, without biases.
at::Tensor swiglu_mlp(const at::Tensor& x, LinearGroup& gate_up, const std::vector<LinearImpl*>& gate_up_layers,
                      LinearGroup& down, LinearImpl* down_layer, bool keep_product = true);

}  // namespace vlm::nn
