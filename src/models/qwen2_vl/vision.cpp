#include "models/qwen2_vl/vision.h"

#include <cmath>

#include "core/error.h"
#include "core/memory.h"
#include "kernels/ops.h"
#include "nn/attention.h"

namespace vlm::qwen2_vl {

PatchEmbedImpl::PatchEmbedImpl(const VisionConfig& c) {
  auto proj = std::make_shared<torch::nn::Module>();
  weight = proj->register_parameter(
      "weight", torch::empty({c.width, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}));
  register_module("proj", proj);
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& pixels) {
  // A Conv3d whose stride equals its kernel over one patch per row is a matmul with the flattened kernel.
  const at::Tensor w = weight.reshape({weight.size(0), -1});
  VLM_CHECK(pixels.dim() == 2 && pixels.size(1) == w.size(1), "pixel_values must be [patches, ", w.size(1),
            "], got ", pixels.sizes());
  return at::matmul(pixels.to(w.scalar_type()), w.t());
}

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c) : heads(c.num_heads), head_dim(c.width / c.num_heads) {
  qkv = register_module("qkv", nn::Linear(c.width, 3 * c.width, true));
  proj = register_module("proj", nn::Linear(c.width, c.width, true));
}

at::Tensor VisionAttentionImpl::forward(const at::Tensor& x, const nn::CosSin& rope,
                                        const std::vector<int64_t>& cu_seqlens) {
  const int64_t n = x.size(0);
  const auto parts = qkv(x).reshape({n, 3, heads, head_dim}).permute({1, 0, 2, 3}).unbind(0);  // 3 x [N, H, D]
  // RoPE in fp32, cast back (apply_rotary_pos_emb_vision): float32 tables [N, D] as [1, N, D] over [1, N, H, D].
  const at::Tensor cos = rope.cos.to(at::kFloat).unsqueeze(0), sin = rope.sin.to(at::kFloat).unsqueeze(0);
  const at::Tensor q = ops::rope(parts[0].unsqueeze(0), cos, sin).squeeze(0);
  const at::Tensor k = ops::rope(parts[1].unsqueeze(0), cos, sin).squeeze(0);
  const at::Tensor out = nn::segment_attention(q, k, parts[2], cu_seqlens, 1.0 / std::sqrt(double(head_dim)));
  return proj(out.reshape({n, -1}));
}

VisionMLPImpl::VisionMLPImpl(const VisionConfig& c, bool gated_)
    : act(nn::activation_from_name(c.hidden_act, "config.json: vision_config.hidden_act")), gated(gated_) {
  if (gated) {
    gate_proj = register_module("gate_proj", nn::Linear(c.width, c.mlp_width, true));
    up_proj = register_module("up_proj", nn::Linear(c.width, c.mlp_width, true));
    down_proj = register_module("down_proj", nn::Linear(c.mlp_width, c.width, true));
  } else {
    fc1 = register_module("fc1", nn::Linear(c.width, c.mlp_width, true));
    fc2 = register_module("fc2", nn::Linear(c.mlp_width, c.width, true));
  }
}

at::Tensor VisionMLPImpl::forward(const at::Tensor& x) {
  if (gated) {
    const at::Tensor gate = gate_proj(x), up = up_proj(x);  // in this order (each may draw a dropout mask)
    return down_proj(nn::activate(act, gate) * up);
  }
  return fc2(nn::activate(act, fc1(x)));
}

VisionBlockImpl::VisionBlockImpl(const VisionConfig& c, bool qwen2_5) {
  const auto kind = qwen2_5 ? nn::NormImpl::Kind::kRMSNorm : nn::NormImpl::Kind::kLayerNorm;
  norm1 = register_module("norm1", nn::Norm(kind, c.width, 1e-6));
  norm2 = register_module("norm2", nn::Norm(kind, c.width, 1e-6));
  attn = register_module("attn", VisionAttention(c));
  mlp = register_module("mlp", VisionMLP(c, qwen2_5));
}

at::Tensor VisionBlockImpl::forward(const at::Tensor& x, const nn::CosSin& rope,
                                    const std::vector<int64_t>& cu_seqlens) {
  const at::Tensor h = x + attn(norm1(x), rope, cu_seqlens);
  return h + mlp(norm2(h));
}

PatchMergerImpl::PatchMergerImpl(const VisionConfig& c, bool qwen2_5)
    : group(c.spatial_merge_size * c.spatial_merge_size) {
  const auto kind = qwen2_5 ? nn::NormImpl::Kind::kRMSNorm : nn::NormImpl::Kind::kLayerNorm;
  ln_q = register_module("ln_q", nn::Norm(kind, c.width, 1e-6));
  auto mlp = std::make_shared<torch::nn::Module>();
  fc0 = mlp->register_module("0", nn::Linear(c.width * group, c.width * group, true));
  fc2 = mlp->register_module("2", nn::Linear(c.width * group, c.out_width, true));
  register_module("mlp", mlp);
}

at::Tensor PatchMergerImpl::forward(const at::Tensor& x) {
  const at::Tensor h = ln_q(x).reshape({-1, x.size(-1) * group});
  return fc2(at::gelu(fc0(h)));
}

VisionModelImpl::VisionModelImpl(const VisionConfig& c, bool qwen2_5_) : config(c), qwen2_5(qwen2_5_) {
  patch_embed = register_module("patch_embed", PatchEmbed(c));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) blocks->push_back(VisionBlock(c, qwen2_5));
  merger = register_module("merger", PatchMerger(c, qwen2_5));
}

WindowIndex window_index(const std::vector<Grid>& grids, const VisionConfig& c) {
  const int64_t merge = c.spatial_merge_size, unit = merge * merge;
  const int64_t win = c.window_size / merge / c.patch_size;  // window side in merged cells
  WindowIndex out;
  out.cu_seqlens.push_back(0);
  int64_t base = 0;
  for (const auto& [t, h, w] : grids) {
    const int64_t gh = h / merge, gw = w / merge;
    // Pad the merged grid up to whole windows (transformers adds a full window when already aligned; padding
    // cells are dropped, so only the window boundaries matter).
    const int64_t pad_h = win - gh % win, pad_w = win - gw % win;
    const int64_t nwh = (gh + pad_h) / win, nww = (gw + pad_w) / win;
    for (int64_t ti = 0; ti < t; ++ti) {
      for (int64_t wy = 0; wy < nwh; ++wy) {
        for (int64_t wx = 0; wx < nww; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * win; y < std::min((wy + 1) * win, gh); ++y)
            for (int64_t x = wx * win; x < std::min((wx + 1) * win, gw); ++x, ++count)
              out.index.push_back(base + ti * gh * gw + y * gw + x);
          const int64_t next = out.cu_seqlens.back() + count * unit;
          if (next != out.cu_seqlens.back()) out.cu_seqlens.push_back(next);  // unique_consecutive
        }
      }
    }
    base += t * gh * gw;
  }
  return out;
}

at::Tensor VisionModelImpl::forward(const at::Tensor& pixels, const std::vector<Grid>& grids) {
  const int64_t merge = config.spatial_merge_size, unit = merge * merge;
  std::vector<int64_t> cu_images{0};
  for (const auto& [t, h, w] : grids) {
    VLM_CHECK(h % merge == 0 && w % merge == 0, "image grid ", h, "x", w, " is not a multiple of the merge size ",
              merge);
    for (int64_t i = 0; i < t; ++i) cu_images.push_back(cu_images.back() + h * w);
  }
  VLM_CHECK(pixels.size(0) == cu_images.back(), "pixel_values has ", pixels.size(0), " patch rows but the image grids ",
            "need ", cu_images.back());

  at::Tensor h = patch_embed(pixels);
  nn::CosSin rope = nn::vision_rope_cos_sin(grids, h.size(1) / config.num_heads, merge, 10000.0, h.device());
  WindowIndex windows;
  at::Tensor order;
  if (qwen2_5) {
    // Permute patches (in groups of merge^2) and their RoPE rows into window order.
    windows = window_index(grids, config);
    order = to_device_async(torch::tensor(windows.index, at::TensorOptions().dtype(at::kLong)), h.device());
    const int64_t n = h.size(0);
    h = h.view({n / unit, unit, -1}).index_select(0, order).reshape({n, -1});
    rope.cos = rope.cos.view({n / unit, unit, -1}).index_select(0, order).reshape({n, -1});
    rope.sin = rope.sin.view({n / unit, unit, -1}).index_select(0, order).reshape({n, -1});
  }
  const auto& full = config.fullatt_block_indexes;
  for (size_t i = 0; i < blocks->size(); ++i) {
    const bool windowed = qwen2_5 && std::find(full.begin(), full.end(), int64_t(i)) == full.end();
    h = blocks[i]->as<VisionBlockImpl>()->forward(h, rope, windowed ? windows.cu_seqlens : cu_images);
  }
  h = merger(h);
  if (qwen2_5) h = h.index_select(0, at::argsort(order));
  return h;
}

}  // namespace vlm::qwen2_vl
