// The Qwen2 text decoder of Qwen2-VL / Qwen2.5-VL: pre-RMSNorm blocks, GQA with biased q/k/v, M-RoPE, SwiGLU.
// Module names mirror the checkpoint: model.embed_tokens, model.layers.N.{self_attn,mlp,...}, model.norm.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "models/model.h"
#include "models/qwen2_vl/config.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/linear_group.h"
#include "nn/norm.h"
#include "nn/rope.h"

namespace vlm::qwen2_vl {

class TextAttentionImpl : public torch::nn::Module {
 public:
  explicit TextAttentionImpl(const TextConfig& c);
  // x [B, L, hidden]; rope cos/sin [B, 1, L, head_dim]; mask as nn::gqa_attention takes it. When rope
  // carries positions instead (a fixed cache's decoding step, L = 1), one fused kernel rotates q and k and writes
  // k and v into the cache.
  at::Tensor forward(const at::Tensor& x, const nn::CosSin& rope, const nn::AttentionMask& mask,
                     nn::KVCache* cache, int64_t layer);
  // The decoding step after the projection, from the joined q, k, v projections qkv [B, 1, (H + 2 Hkv) D].
  at::Tensor decode_step(const at::Tensor& qkv, const nn::CosSin& rope, const nn::AttentionMask& mask,
                         nn::KVCache* cache, int64_t layer);
  // The joined q, k, v product where the projections of x run as one over the joined weights (inference on CUDA,
  // biases, plain LoRA side paths or none, which ride along); null otherwise. Each adapter is asked once.
  const nn::JoinedLinear::Product* joined_qkv(const at::Tensor& x);
  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;

 private:
  // q, k, v projections [B, L, H*D], [B, L, Hkv*D] x2, or all three side by side [B, L, (H + 2 Hkv) D].
  // Inference on CUDA runs one GEMM over the concatenated weights (a decoding step is then one launch instead of
  // three small ones), plus one kernel for LoRA side paths; the concatenation is cached (nn::JoinedLinear).
  std::array<at::Tensor, 3> project_qkv(const at::Tensor& x);
  at::Tensor project_qkv_joined(const at::Tensor& x);
  nn::JoinedLinear qkv_joined_;
  // Training with frozen projections: q, k, v (and their LoRA side paths) as one node.
  nn::LinearGroup qkv_group_;
};
TORCH_MODULE(TextAttention);

class TextMLPImpl : public torch::nn::Module {
 public:
  TextMLPImpl(int64_t hidden, int64_t intermediate, nn::Activation act);
  at::Tensor forward(const at::Tensor& x);
  // Where gate, up and the activation may run as one (ops::swiglu_linear): SwiGLU with no adapters on gate and up,
  // or (autograd off) plain LoRA side paths; then gate's and up's side paths (empty without adapters).
  std::optional<std::pair<ops::LowRank, ops::LowRank>> fused_low_ranks(at::ScalarType dtype) const;
  nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  nn::Activation act;
  // Training (CheckpointLevel::kMlp): keep only the input, and form the gate/up product again in backward (the
  // grouped node), or run the whole MLP again (nn::checkpoint) where it does not apply.
  bool recompute = false;

 private:
  at::Tensor forward_kept(const at::Tensor& x);

  // Training with frozen projections: the whole SwiGLU MLP (and its LoRA side paths) as one node.
  nn::LinearGroup gate_up_group_, down_group_;
};
TORCH_MODULE(TextMLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const TextConfig& c);
  at::Tensor forward(const at::Tensor& x, const nn::CosSin& rope, const nn::AttentionMask& mask,
                     nn::KVCache* cache, int64_t layer);
  // The same block on the residual stream x plus `pending`, the previous block's MLP output not yet added to it
  // (undefined for the first block), so that every residual add runs fused with the norm after it. Returns the
  // stream after this block's attention residual, and this block's MLP output (the next block's pending).
  std::pair<at::Tensor, at::Tensor> step(const at::Tensor& x, const at::Tensor& pending, const nn::CosSin& rope,
                                         const nn::AttentionMask& mask, nn::KVCache* cache, int64_t layer);
  TextAttention self_attn{nullptr};
  TextMLP mlp{nullptr};
  nn::RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

class TextModelImpl : public torch::nn::Module {
 public:
  explicit TextModelImpl(const TextConfig& c);
  // embeds [B, L, hidden], position_ids [3, B, L], mask as in TextAttention. Returns normed hidden states.
  at::Tensor forward(const at::Tensor& embeds, const at::Tensor& position_ids, const nn::AttentionMask& mask,
                     nn::KVCache* cache);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  nn::RMSNorm norm{nullptr};
  TextConfig config;
  // Training (grad mode on, no KV cache): kLayer and kOffload run each decoder layer through nn::checkpoint
  // (offload: its input kept in pinned CPU memory), kMlp has each layer's MLP keep only its input.
  void set_checkpoint_level(CheckpointLevel level);
  CheckpointLevel checkpoint_level() const { return checkpoint_level_; }

 private:
  // RoPE's inverse frequencies on the embeddings' device, computed once (five small kernels a decoding step else).
  const at::Tensor& inv_freq(const at::Device& device);
  at::Tensor inv_freq_;
  CheckpointLevel checkpoint_level_ = CheckpointLevel::kNone;
};
TORCH_MODULE(TextModel);

}  // namespace vlm::qwen2_vl
