// Attention building blocks: grouped-query attention over a KV cache, and variable-length attention restricted to
// segments (one image, or one window of an image) of a packed sequence.
#pragma once

#include <optional>
#include <vector>

#include <ATen/ATen.h>

namespace vlm::nn {

// [B, Hkv, L, D] -> [B, Hkv * n_rep, L, D], each KV head repeated for its query group.
at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep);

// softmax(q k^T * scale + mask) v over [B, H, L, D] tensors; mask is boolean (true = attend) broadcastable to
// [B, H, Lq, Lk], or absent. Fused kernels where libtorch has them (see core/torch_compat.h).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool causal, double scale);

// Non-causal attention within each segment [cu[i], cu[i+1]) of a packed sequence. q, k, v: [N, H, D].
// Returns [N, H, D].
at::Tensor segment_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const std::vector<int64_t>& cu_seqlens, double scale);

// Per-layer key/value cache that grows by concatenation. Tensors are [B, Hkv, T, D].
class KVCache {
 public:
  explicit KVCache(int64_t layers = 0) : k_(layers), v_(layers) {}
  // Appends this step's keys/values for `layer` and returns the whole history.
  std::pair<at::Tensor, at::Tensor> update(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  int64_t length() const { return k_.empty() || !k_[0].defined() ? 0 : k_[0].size(2); }
  size_t layers() const { return k_.size(); }

 private:
  std::vector<at::Tensor> k_, v_;
};

}  // namespace vlm::nn
