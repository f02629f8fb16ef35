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

// What a decoder's attention may see.
struct AttentionMask {
  // Boolean [B, 1, Lq, T] (true = attend); none = causal over the row.
  std::optional<at::Tensor> dense;
  // A packed row (B = 1) of several samples back to back, each attending causally within itself only: int32
  // cumulative lengths [samples + 1] on the row's device, and the longest sample. Used instead of `dense`.
  at::Tensor cu_seqlens;
  int64_t max_seqlen = 0;
};

// AttentionMask for a packed row of samples of these lengths.
AttentionMask packed_mask(const std::vector<int64_t>& lengths, const at::Device& device);

// The dense equivalent of a packed row's mask: [1, 1, N, N] bool, causal within each segment of cu_seqlens.
at::Tensor packed_causal_mask(const at::Tensor& cu_seqlens, int64_t n);

// Grouped-query attention: q [B, H, Lq, D], k, v [B, Hkv, T, D].
// - One query per row on CUDA (decoding) runs the fused decode kernel (kernels/ops.h), which reads the KV heads in
//   place.
// - A packed row on CUDA in bf16/fp16 runs the variable-length flash kernel (libtorch >= 2.1), which also reads the
//   KV heads in place; elsewhere it gets its dense mask. So do causal rows without a mask (no padding, queries over
//   their own keys), each row a segment.
// - Otherwise the KV heads are repeated for their query groups and SDPA runs.
at::Tensor gqa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask,
                         double scale);

// Non-causal attention within each segment [cu[i], cu[i+1]) of a packed sequence. q, k, v: [N, H, D].
// Returns [N, H, D].
at::Tensor segment_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const std::vector<int64_t>& cu_seqlens, double scale);

// Per-layer key/value cache, tensors [B, Hkv, T, D]. Two modes:
//  - growing (capacity 0): each update concatenates, and returns exactly the positions seen so far;
//  - fixed (capacity N): buffers of N positions are allocated at the first update and never reallocated. The
//    prompt is written at [0, L). Once set_slot() has been given a device-side position ([1] int64), every
//    update writes its one step there and returns the whole buffers (unwritten slots must be masked out by the
//    caller): a decoding step then has static shapes and reads no host-side value, so it can be captured in a
//    CUDA graph and replayed, the caller advancing the slot on the device.
class KVCache {
 public:
  explicit KVCache(int64_t layers = 0, int64_t capacity = 0) : k_(layers), v_(layers), capacity_(capacity) {}
  // Stores this step's keys/values [B, Hkv, L, D] for `layer` and returns what attention reads.
  std::pair<at::Tensor, at::Tensor> update(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void set_slot(const at::Tensor& slot) { slot_ = slot; }
  // The write position of a fixed cache's decoding steps ([1] int64 on the device; undefined before set_slot).
  const at::Tensor& slot() const { return slot_; }
  // A layer's whole key and value buffers [B, Hkv, capacity, D] (fixed caches, once the prompt is in).
  std::pair<at::Tensor, at::Tensor> layer(int64_t i) const {
    return {k_.at(static_cast<size_t>(i)), v_.at(static_cast<size_t>(i))};
  }
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  bool fixed() const { return capacity_ > 0; }
  size_t layers() const { return k_.size(); }

 private:
  std::vector<at::Tensor> k_, v_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;  // positions written before set_slot()
  at::Tensor slot_;
};

}  // namespace vlm::nn
