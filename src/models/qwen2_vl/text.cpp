#include "models/qwen2_vl/text.h"

#include "core/error.h"
#include "kernels/ops.h"
#include "nn/checkpoint.h"

namespace vlm::qwen2_vl {

TextAttentionImpl::TextAttentionImpl(const TextConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  q_proj = register_module("q_proj", nn::Linear(c.hidden_size, heads * head_dim, true));
  k_proj = register_module("k_proj", nn::Linear(c.hidden_size, kv_heads * head_dim, true));
  v_proj = register_module("v_proj", nn::Linear(c.hidden_size, kv_heads * head_dim, true));
  o_proj = register_module("o_proj", nn::Linear(heads * head_dim, c.hidden_size, false));
}

at::Tensor TextAttentionImpl::forward(const at::Tensor& x, const nn::CosSin& rope,
                                      const nn::AttentionMask& mask, nn::KVCache* cache, int64_t layer) {
  const int64_t b = x.size(0), l = x.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (rope.positions.defined()) return decode_step(project_qkv_joined(x), rope, mask, cache, layer);
  // [B, L, H*D] -> [B, L, H, D] (rotated in this layout, cos/sin [B, L, D]) -> [B, H, L, D]
  const at::Tensor cos = rope.cos.squeeze(1), sin = rope.sin.squeeze(1);
  const auto [qx, kx, vx] = project_qkv(x);
  at::Tensor q = ops::rope(qx.view({b, l, heads, head_dim}), cos, sin).transpose(1, 2);
  at::Tensor k = ops::rope(kx.view({b, l, kv_heads, head_dim}), cos, sin).transpose(1, 2);
  at::Tensor v = vx.view({b, l, kv_heads, head_dim}).transpose(1, 2);
  if (cache) std::tie(k, v) = cache->update(layer, k, v);
  const at::Tensor out = nn::gqa_attention(q, k, v, mask, scale);
  return o_proj(out.transpose(1, 2).reshape({b, l, heads * head_dim}));
}

at::Tensor TextAttentionImpl::decode_step(const at::Tensor& qkv, const nn::CosSin& rope, const nn::AttentionMask& mask,
                                          nn::KVCache* cache, int64_t layer) {
  const int64_t b = qkv.size(0);
  VLM_CHECK(cache && cache->slot().defined() && qkv.size(1) == 1 && mask.dense,
            "a fused decoding step needs a fixed KV cache");
  const auto [k_cache, v_cache] = cache->layer(layer);
  const at::Tensor out =
      ops::decode_qkv_attention(qkv, rope.positions, rope.inv_freq, k_cache, v_cache, cache->slot(), *mask.dense,
                                heads, 1.0 / std::sqrt(static_cast<double>(head_dim)));
  return o_proj(out.transpose(1, 2).reshape({b, 1, heads * head_dim}));
}

const nn::JoinedLinear::Product* TextAttentionImpl::joined_qkv(const at::Tensor& x) {
  if (!x.is_cuda() || at::GradMode::is_enabled() || !q_proj->bias.defined() || !k_proj->bias.defined() ||
      !v_proj->bias.defined())
    return nullptr;
  return qkv_joined_.get({q_proj.get(), k_proj.get(), v_proj.get()}, x.scalar_type());
}

std::array<at::Tensor, 3> TextAttentionImpl::project_qkv(const at::Tensor& x) {
  const std::vector<nn::LinearImpl*> qkv = {q_proj.get(), k_proj.get(), v_proj.get()};
  if (nn::LinearGroup::groupable(qkv, x) && nn::LinearGroup::trains(qkv, x)) {
    const std::vector<at::Tensor> out = qkv_group_.forward(x, qkv);
    return {out[0], out[1], out[2]};
  }
  const nn::JoinedLinear::Product* joined = joined_qkv(x);
  if (!joined) return {q_proj(x), k_proj(x), v_proj(x)};
  const at::Tensor y = ops::linear(x, joined->weight, joined->bias, joined->low_rank);
  const int64_t nq = q_proj->out_features, nk = k_proj->out_features;
  return {y.narrow(-1, 0, nq), y.narrow(-1, nq, nk), y.narrow(-1, nq + nk, v_proj->out_features)};
}

at::Tensor TextAttentionImpl::project_qkv_joined(const at::Tensor& x) {
  if (const nn::JoinedLinear::Product* joined = joined_qkv(x))
    return ops::linear(x, joined->weight, joined->bias, joined->low_rank);
  return at::cat({q_proj(x), k_proj(x), v_proj(x)}, -1);
}

TextMLPImpl::TextMLPImpl(int64_t hidden, int64_t intermediate, nn::Activation act_) : act(act_) {
  gate_proj = register_module("gate_proj", nn::Linear(hidden, intermediate, false));
  up_proj = register_module("up_proj", nn::Linear(hidden, intermediate, false));
  down_proj = register_module("down_proj", nn::Linear(intermediate, hidden, false));
}

std::optional<std::pair<ops::LowRank, ops::LowRank>> TextMLPImpl::fused_low_ranks(at::ScalarType dtype) const {
  if (act != nn::Activation::kSilu) return std::nullopt;
  if (!gate_proj->adapter() && !up_proj->adapter()) return std::make_pair(ops::LowRank{}, ops::LowRank{});
  if (at::GradMode::is_enabled()) return std::nullopt;
  auto gate = gate_proj->low_rank(dtype), up = up_proj->low_rank(dtype);
  if (!gate || !up) return std::nullopt;
  return std::make_pair(std::move(*gate), std::move(*up));
}

at::Tensor TextMLPImpl::forward(const at::Tensor& x) {
  if (act == nn::Activation::kSilu && !gate_proj->bias.defined() && !up_proj->bias.defined() &&
      !down_proj->bias.defined()) {
    const std::vector<nn::LinearImpl*> gate_up = {gate_proj.get(), up_proj.get()}, down = {down_proj.get()};
    if (nn::LinearGroup::groupable(gate_up, x) && nn::LinearGroup::groupable(down, x) &&
        (nn::LinearGroup::trains(gate_up, x) || nn::LinearGroup::trains(down, x)))
      return nn::swiglu_mlp(x, gate_up_group_, gate_up, down_group_, down_proj.get(), /*keep_product=*/!recompute);
  }
  // Captured as a raw pointer: the module outlives the backward that runs it again.
  if (recompute && at::GradMode::is_enabled())
    return nn::checkpoint([mlp = this](const at::Tensor& in) { return mlp->forward_kept(in); }, x);
  return forward_kept(x);
}

at::Tensor TextMLPImpl::forward_kept(const at::Tensor& x) {
  if (const auto low_ranks = fused_low_ranks(x.scalar_type()))
    return down_proj(ops::swiglu_linear(x, gate_proj->weight, up_proj->weight, low_ranks->first, low_ranks->second));
  // Gate before up, as the grouped node runs them: each may draw a dropout mask, and an argument list would leave
  // the order (so which layer gets which mask) to the compiler.
  const at::Tensor gate = gate_proj(x), up = up_proj(x);
  if (act == nn::Activation::kSilu) return down_proj->forward_swiglu(gate, up);
  return down_proj(nn::activate(act, gate) * up);
}

DecoderLayerImpl::DecoderLayerImpl(const TextConfig& c) {
  self_attn = register_module("self_attn", TextAttention(c));
  mlp = register_module("mlp", TextMLP(c.hidden_size, c.intermediate_size,
                                       nn::activation_from_name(c.hidden_act, "config.json: hidden_act")));
  input_layernorm = register_module("input_layernorm", nn::RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", nn::RMSNorm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const nn::CosSin& rope,
                                     const nn::AttentionMask& mask, nn::KVCache* cache, int64_t layer) {
  const auto [h, out] = step(x, at::Tensor(), rope, mask, cache, layer);
  return h + out;
}

std::pair<at::Tensor, at::Tensor> DecoderLayerImpl::step(const at::Tensor& x, const at::Tensor& pending,
                                                         const nn::CosSin& rope, const nn::AttentionMask& mask,
                                                         nn::KVCache* cache, int64_t layer) {
  const at::ScalarType dtype = x.scalar_type();
  const auto mlp_low_ranks = rope.positions.defined() ? mlp->fused_low_ranks(dtype) : std::nullopt;
  const nn::JoinedLinear::Product* qkv_product = mlp_low_ranks ? self_attn->joined_qkv(x) : nullptr;
  if (qkv_product) {
    // A decoding step: each residual add and norm runs inside the projection after it (LoRA side paths ride on the
    // projections).
    const auto [h, qkv] = ops::add_rms_norm_linear(x, pending, input_layernorm->weight, input_layernorm->eps,
                                                   qkv_product->weight, qkv_product->bias, qkv_product->low_rank);
    const at::Tensor attn = self_attn->decode_step(qkv, rope, mask, cache, layer);
    const auto [h2, act] = ops::add_rms_norm_swiglu_linear(h, attn, post_attention_layernorm->weight,
                                                           post_attention_layernorm->eps, mlp->gate_proj->weight,
                                                           mlp->up_proj->weight, mlp_low_ranks->first,
                                                           mlp_low_ranks->second);
    return {h2, mlp->down_proj(act)};
  }
  const auto [h, normed] =
      pending.defined() ? ops::add_rms_norm(x, pending, input_layernorm->weight, input_layernorm->eps)
                        : std::pair<at::Tensor, at::Tensor>{x, input_layernorm(x)};
  const auto [h2, normed2] = ops::add_rms_norm(h, self_attn(normed, rope, mask, cache, layer),
                                               post_attention_layernorm->weight, post_attention_layernorm->eps);
  return {h2, mlp(normed2)};
}

TextModelImpl::TextModelImpl(const TextConfig& c) : config(c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", nn::RMSNorm(c.hidden_size, c.rms_norm_eps));
}

void TextModelImpl::set_checkpoint_level(CheckpointLevel level) {
  checkpoint_level_ = level;
  for (size_t i = 0; i < layers->size(); ++i)
    layers[i]->as<DecoderLayerImpl>()->mlp->recompute = level == CheckpointLevel::kMlp;
}

const at::Tensor& TextModelImpl::inv_freq(const at::Device& device) {
  if (!inv_freq_.defined() || inv_freq_.device() != device)
    inv_freq_ = nn::rope_inv_freq(config.head_dim, config.rope_theta, device);
  return inv_freq_;
}

at::Tensor TextModelImpl::forward(const at::Tensor& embeds, const at::Tensor& position_ids,
                                  const nn::AttentionMask& mask, nn::KVCache* cache) {
  const at::Tensor& inv_freq = this->inv_freq(embeds.device());
  nn::CosSin rope;
  if (cache && cache->slot().defined() && embeds.size(1) == 1 && !at::GradMode::is_enabled()) {
    // A fixed cache's decoding step: the three M-RoPE streams hold the same position (the cache position plus the
    // rope delta), so the attention rotates by stream 0 inside its fused kernel.
    rope.positions = position_ids.select(0, 0).reshape({embeds.size(0)});
    rope.inv_freq = inv_freq;
  } else {
    rope = nn::mrope_cos_sin(inv_freq, position_ids, config.mrope_section, embeds.scalar_type());
  }
  at::Tensor h = embeds, pending;
  const bool recompute = checkpoint_level_ >= CheckpointLevel::kLayer && at::GradMode::is_enabled() && cache == nullptr;
  for (size_t i = 0; i < layers->size(); ++i) {
    const auto index = static_cast<int64_t>(i);
    if (!recompute) {
      std::tie(h, pending) = layers[i]->as<DecoderLayerImpl>()->step(h, pending, rope, mask, cache, index);
      continue;
    }
    // Captured by value: backward runs the layer again after this function has returned.
    auto run = [layer = layers->ptr<DecoderLayerImpl>(i), rope, mask, index](const at::Tensor& x) {
      return layer->forward(x, rope, mask, nullptr, index);
    };
    h = nn::checkpoint(run, h, checkpoint_level_ == CheckpointLevel::kOffload);
  }
  if (!pending.defined()) return norm(h);
  return ops::add_rms_norm(h, pending, norm->weight, norm->eps).second;
}

}  // namespace vlm::qwen2_vl
