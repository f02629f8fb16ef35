// The vision tower of Qwen2-VL and Qwen2.5-VL, named as the checkpoint's visual.*: patch_embed (a Conv3d with
// stride = kernel, i.e. one matmul per patch row), blocks with 2D RoPE and attention restricted to each image
// (Qwen2.5: to windows, except the full-attention blocks), and the 2x2 patch merger.
#pragma once

#include <array>
#include <vector>

#include <torch/torch.h>

#include "models/qwen2_vl/config.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/rope.h"

namespace vlm::qwen2_vl {

using Grid = std::array<int64_t, 3>;  // (t, h, w) in patches

class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const VisionConfig& c);
  at::Tensor forward(const at::Tensor& pixels);  // [N, C*T*P*P] -> [N, width]
  at::Tensor weight;  // "proj.weight" [width, C, T, P, P]
};
TORCH_MODULE(PatchEmbed);

class VisionAttentionImpl : public torch::nn::Module {
 public:
  explicit VisionAttentionImpl(const VisionConfig& c);
  at::Tensor forward(const at::Tensor& x, const nn::CosSin& rope, const std::vector<int64_t>& cu_seqlens);
  nn::Linear qkv{nullptr}, proj{nullptr};
  int64_t heads, head_dim;
};
TORCH_MODULE(VisionAttention);

// Qwen2-VL: fc1 -> act -> fc2. Qwen2.5-VL: down(act(gate(x)) * up(x)), all with bias.
class VisionMLPImpl : public torch::nn::Module {
 public:
  explicit VisionMLPImpl(const VisionConfig& c, bool gated);
  at::Tensor forward(const at::Tensor& x);
  nn::Linear fc1{nullptr}, fc2{nullptr}, gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  nn::Activation act;
  bool gated;
};
TORCH_MODULE(VisionMLP);

class VisionBlockImpl : public torch::nn::Module {
 public:
  VisionBlockImpl(const VisionConfig& c, bool qwen2_5);
  at::Tensor forward(const at::Tensor& x, const nn::CosSin& rope, const std::vector<int64_t>& cu_seqlens);
  nn::Norm norm1{nullptr}, norm2{nullptr};
  VisionAttention attn{nullptr};
  VisionMLP mlp{nullptr};
};
TORCH_MODULE(VisionBlock);

// visual.merger: ln_q, then mlp.0 -> GELU -> mlp.2 over groups of merge^2 consecutive patches.
class PatchMergerImpl : public torch::nn::Module {
 public:
  PatchMergerImpl(const VisionConfig& c, bool qwen2_5);
  at::Tensor forward(const at::Tensor& x);
  nn::Norm ln_q{nullptr};
  nn::Linear fc0{nullptr}, fc2{nullptr};  // registered as mlp.0 and mlp.2
  int64_t group;
};
TORCH_MODULE(PatchMerger);

class VisionModelImpl : public torch::nn::Module {
 public:
  VisionModelImpl(const VisionConfig& c, bool qwen2_5);
  // pixels [N, C*T*P*P] for all images in order; returns merged features [N / merge^2, out_width].
  at::Tensor forward(const at::Tensor& pixels, const std::vector<Grid>& grids);
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  PatchMerger merger{nullptr};
  VisionConfig config;
  bool qwen2_5;
};
TORCH_MODULE(VisionModel);

// Qwen2.5-VL window attention: the permutation of merged patches into window order and the cumulative window
// lengths (in patches), as transformers' get_window_index + unique_consecutive. Exposed for tests.
struct WindowIndex {
  std::vector<int64_t> index;       // merged-patch order
  std::vector<int64_t> cu_seqlens;  // patch offsets of window boundaries, starting at 0
};
WindowIndex window_index(const std::vector<Grid>& grids, const VisionConfig& c);

}  // namespace vlm::qwen2_vl
