// Rotary position embeddings (rotate-half form): 1D, multimodal (M-RoPE, Qwen2-VL) and the vision tower's 2D.
// cos/sin are computed in fp32 exactly as transformers does, then cast to the activation dtype.
#pragma once

#include <array>
#include <vector>

#include <ATen/ATen.h>

namespace vlm::nn {

// inv_freq[i] = 1 / theta^(2i/dim), i < dim/2, float32.
at::Tensor rope_inv_freq(int64_t dim, double theta, const at::Device& device);

struct CosSin {
  at::Tensor cos, sin;
  // A fixed KV cache's decoding step instead carries positions [B] (int64) and inv_freq, and the attention rotates
  // q and k inside its fused kernel (ops::rope_qkv_decode); cos and sin are then undefined.
  at::Tensor positions, inv_freq;
};

// M-RoPE. position_ids [3, B, L] (temporal, height, width streams). The head dim is split into
// mrope_section * 2 chunks; chunk i takes stream i % 3. Returns cos/sin [B, 1, L, head_dim] in `dtype`
// (ready to broadcast over heads). An empty mrope_section means plain 1D RoPE on stream 0.
CosSin mrope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                     const std::vector<int64_t>& mrope_section, at::ScalarType dtype);

// The vision tower's 2D RoPE for images of grid (t, h, w) in patches: each patch uses concat(freq[row],
// freq[col]) duplicated to the head dim, positions enumerated in merge-block order. Returns float32 cos/sin
// [N, head_dim] for all patches of all images, in order.
CosSin vision_rope_cos_sin(const std::vector<std::array<int64_t, 3>>& grid_thw, int64_t head_dim,
                           int64_t merge_size, double theta, const at::Device& device);

}  // namespace vlm::nn
