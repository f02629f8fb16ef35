#include "nn/rope.h"

namespace vlm::nn {

at::Tensor rope_inv_freq(int64_t dim, double theta, const at::Device& device) {
  // As transformers: arange(0, dim, 2) in int64 -> float32 / dim -> theta ** that -> 1 / x, all float32.
  const at::Tensor exponent =
      at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong).device(device)).to(at::kFloat) / dim;
  return 1.0 / at::pow(theta, exponent);
}

CosSin mrope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                     const std::vector<int64_t>& mrope_section, at::ScalarType dtype) {
  // freqs[s, b, l, i] = position[s, b, l] * inv_freq[i]  (fp32)
  const at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, 1, -1});
  const at::Tensor emb = at::cat({freqs, freqs}, -1);  // [3, B, L, head_dim]
  at::Tensor cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);
  if (mrope_section.empty()) return {cos[0].unsqueeze(1), sin[0].unsqueeze(1)};
  std::vector<int64_t> sections = mrope_section;
  sections.insert(sections.end(), mrope_section.begin(), mrope_section.end());
  std::vector<at::Tensor> cos_parts, sin_parts;
  int64_t offset = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    cos_parts.push_back(cos[static_cast<int64_t>(i % 3)].narrow(-1, offset, sections[i]));
    sin_parts.push_back(sin[static_cast<int64_t>(i % 3)].narrow(-1, offset, sections[i]));
    offset += sections[i];
  }
  return {at::cat(cos_parts, -1).unsqueeze(1), at::cat(sin_parts, -1).unsqueeze(1)};
}

CosSin vision_rope_cos_sin(const std::vector<std::array<int64_t, 3>>& grid_thw, int64_t head_dim,
                           int64_t merge_size, double theta, const at::Device& device) {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  std::vector<at::Tensor> pos;
  int64_t max_grid = 0;
  for (const auto& [t, h, w] : grid_thw) {
    max_grid = std::max({max_grid, h, w});
    // Row and column of every patch, enumerated block by block (merge_size x merge_size blocks).
    const at::Tensor hpos = at::arange(h, longs)
                                .unsqueeze(1)
                                .expand({h, w})
                                .reshape({h / merge_size, merge_size, w / merge_size, merge_size})
                                .permute({0, 2, 1, 3})
                                .flatten();
    const at::Tensor wpos = at::arange(w, longs)
                                .unsqueeze(0)
                                .expand({h, w})
                                .reshape({h / merge_size, merge_size, w / merge_size, merge_size})
                                .permute({0, 2, 1, 3})
                                .flatten();
    pos.push_back(at::stack({hpos, wpos}, -1).repeat({t, 1}));
  }
  const at::Tensor ids = at::cat(pos, 0);  // [N, 2]
  const at::Tensor inv_freq = rope_inv_freq(head_dim / 2, theta, device);
  const at::Tensor table = at::outer(at::arange(max_grid, inv_freq.options()), inv_freq);  // [max_grid, hd/4]
  const at::Tensor rot = table.index({ids}).flatten(1);                                       // [N, hd/2]
  const at::Tensor emb = at::cat({rot, rot}, -1);                                            // [N, hd]
  return {emb.cos(), emb.sin()};
}

}  // namespace vlm::nn
