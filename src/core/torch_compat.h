// Every difference between the libtorch versions we build against lives here: Debian's 1.13 (CPU) and the CUDA
// libtorch of an installed PyTorch (>= 2.1; the GPU machine has 2.11).
#pragma once

#include <torch/version.h>

#include <optional>
#include <vector>

#include <ATen/ATen.h>

#define VLM_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// Scalar types that newer libtorch has natively (float8 from 2.1, unsigned 16/32/64-bit from 2.3, e8m0 from 2.7).
#define VLM_HAS_FLOAT8 VLM_TORCH_AT_LEAST(2, 1)
#define VLM_HAS_UINT_WIDE VLM_TORCH_AT_LEAST(2, 3)
#define VLM_HAS_FLOAT8_E8M0 VLM_TORCH_AT_LEAST(2, 7)
#define VLM_HAS_SDPA VLM_TORCH_AT_LEAST(2, 0)
#define VLM_HAS_VARLEN_FLASH VLM_TORCH_AT_LEAST(2, 1)

namespace vlm::compat {

// Scaled dot-product attention over [B, H, L, D] tensors. Uses at::scaled_dot_product_attention (fused flash /
// memory-efficient kernels on CUDA) from libtorch 2.0; before that the same math written out, with the softmax in
// fp32. `mask` is additive (0 / -inf) or boolean (true = attend), broadcastable to [B, H, Lq, Lk].
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const std::optional<at::Tensor>& mask, bool is_causal,
                                               double scale) {
#if VLM_HAS_SDPA
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale);
#else
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * scale;
  if (is_causal) {
    const int64_t lq = q.size(-2), lk = k.size(-2);
    at::Tensor causal = at::ones({lq, lk}, q.options().dtype(at::kBool)).tril(lk - lq);
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (mask) {
    if (mask->scalar_type() == at::kBool)
      scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<float>::infinity());
    else
      scores = scores + mask->to(at::kFloat);
  }
  return at::matmul(at::softmax(scores, -1).to(q.scalar_type()), v);
#endif
}

// self[i] += weight * (end[i] - self[i]) for every tensor (lerp_); before 2.0, as a multiply and an add.
inline void foreach_lerp_(std::vector<at::Tensor>& self, const std::vector<at::Tensor>& end, double weight) {
#if VLM_TORCH_AT_LEAST(2, 0)
  at::_foreach_lerp_(self, end, weight);
#else
  at::_foreach_mul_(self, 1.0 - weight);
  at::_foreach_add_(self, end, weight);
#endif
}

// The 2-norm of each tensor (float32 scalars on their devices): one multi-tensor kernel from libtorch 2.0, a norm
// per tensor before.
inline std::vector<at::Tensor> foreach_norm(const std::vector<at::Tensor>& ts) {
#if VLM_TORCH_AT_LEAST(2, 0)
  return at::_foreach_norm(ts, 2);
#else
  std::vector<at::Tensor> out;
  for (const at::Tensor& t : ts) out.push_back(t.norm(2));
  return out;
#endif
}

// t *= scale (a one-element tensor on the tensors' device, never read back) for every tensor; multi-tensor from
// libtorch 2.1.
inline void foreach_mul_(std::vector<at::Tensor>& ts, const at::Tensor& scale) {
#if VLM_TORCH_AT_LEAST(2, 1)
  at::_foreach_mul_(ts, scale);
#else
  for (at::Tensor& t : ts) t.mul_(scale);
#endif
}

// Attention within each segment [cu[i], cu[i+1]) of packed q [N, H, D], k, v [N, Hkv, D] (H a multiple of Hkv),
// causal or not, through libtorch's variable-length flash kernel (differentiable), returning [N, H, D]; nullopt where
// it is not available: libtorch before 2.1, not CUDA, not bf16/fp16, or a head size it does not take.
inline std::optional<at::Tensor> varlen_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                        const at::Tensor& cu_seqlens, int64_t max_seqlen,
                                                        double scale, bool causal = true) {
#if VLM_HAS_VARLEN_FLASH
  const auto type = q.scalar_type();
  if (!q.is_cuda() || (type != at::kBFloat16 && type != at::kHalf) || q.size(-1) % 8 != 0 || q.size(-1) > 256)
    return std::nullopt;
  return std::get<0>(at::_flash_attention_forward(q, k, v, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen, 0.0,
                                                  causal, /*return_debug_mask=*/false, scale));
#else
  (void)q, (void)k, (void)v, (void)cu_seqlens, (void)max_seqlen, (void)scale, (void)causal;
  return std::nullopt;
#endif
}

}  // namespace vlm::compat
