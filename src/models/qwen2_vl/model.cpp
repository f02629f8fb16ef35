#include "models/qwen2_vl/model.h"

#include <algorithm>

#include "core/error.h"
#include "core/memory.h"
#include "kernels/ops.h"

namespace vlm::qwen2_vl {
namespace {

// Boolean attention mask [B, 1, Lq, T] for queries at absolute positions [past, past + Lq) over keys [0, T):
// causal, and no attention to padded keys. Padded query rows may see themselves, so no row is empty.
at::Tensor causal_mask(const at::Tensor& key_mask, int64_t past, int64_t lq) {
  const int64_t t = key_mask.size(1);
  const auto opts = at::TensorOptions().dtype(at::kLong).device(key_mask.device());
  const at::Tensor qpos = at::arange(past, past + lq, opts).view({lq, 1});
  const at::Tensor kpos = at::arange(t, opts).view({1, t});
  const at::Tensor causal = (kpos <= qpos).unsqueeze(0);        // [1, Lq, T]
  const at::Tensor keys = key_mask.to(at::kBool).unsqueeze(1);   // [B, 1, T]
  const at::Tensor self = (kpos == qpos).unsqueeze(0);          // [1, Lq, T]
  return ((causal & keys) | self).unsqueeze(1);                 // [B, 1, Lq, T]
}

}  // namespace

std::vector<Grid> grids_of(const at::Tensor& thw) {
  std::vector<Grid> grids;
  if (!thw.defined()) return grids;
  VLM_CHECK(thw.dim() == 2 && thw.size(1) == 3, "image_grid_thw must be [images, 3], got ", thw.sizes());
  const at::Tensor cpu = thw.to(at::kCPU).to(at::kLong).contiguous();
  const int64_t* p = cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < cpu.size(0); ++i) grids.push_back({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
  return grids;
}

std::pair<at::Tensor, at::Tensor> rope_index(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const std::vector<Grid>& grids, const Config& c,
                                             const std::vector<int64_t>& packed_lengths) {
  const at::Tensor ids = input_ids.to(at::kCPU).contiguous();
  const int64_t b = ids.size(0), l = ids.size(1);
  const at::Tensor mask = attention_mask.defined() ? attention_mask.to(at::kCPU).to(at::kLong).contiguous()
                                                   : at::ones({b, l}, at::kLong);
  at::Tensor pos = at::ones({3, b, l}, at::kLong);
  at::Tensor deltas = at::zeros({b}, at::kLong);
  const int64_t merge = c.vision.spatial_merge_size;
  std::vector<bool> restart(static_cast<size_t>(l), false);  // packed: a sample starts here
  if (!packed_lengths.empty()) {
    VLM_CHECK(b == 1 && !attention_mask.defined(), "a packed batch is one row without padding");
    int64_t start = 0;
    for (const int64_t n : packed_lengths) {
      VLM_CHECK(n > 0 && start + n <= l, "packed sample lengths do not fit the row of ", l, " tokens");
      restart[static_cast<size_t>(start)] = true;
      start += n;
    }
    VLM_CHECK(start == l, "packed sample lengths add up to ", start, ", the row has ", l, " tokens");
  }
  size_t image = 0;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t* row = ids[i].data_ptr<int64_t>();
    const int64_t* m = mask[i].data_ptr<int64_t>();
    std::vector<int64_t> cols;  // unpadded column indices
    for (int64_t j = 0; j < l; ++j)
      if (m[j] == 1) cols.push_back(j);
    std::vector<std::array<int64_t, 3>> p;  // positions of the unpadded tokens
    p.reserve(cols.size());
    int64_t next = 0;  // first position of the next text token
    for (size_t j = 0; j < cols.size();) {
      if (restart[static_cast<size_t>(cols[j])]) next = 0;
      const int64_t tok = row[cols[j]];
      const bool starts_image = tok == c.image_token_id && j > 0 && row[cols[j - 1]] == c.vision_start_token_id;
      if (!starts_image) {
        p.push_back({next, next, next});
        ++next;
        ++j;
        continue;
      }
      VLM_CHECK(image < grids.size(), "the prompt has more images than image_grid_thw rows (", grids.size(), ")");
      const auto [gt, gh, gw] = grids[image++];
      const int64_t h = gh / merge, w = gw / merge, n = gt * h * w;
      VLM_CHECK(j + static_cast<size_t>(n) <= cols.size(), "image ", image, " needs ", n,
                " image tokens but the prompt ends first");
      int64_t max_pos = next;
      for (int64_t ti = 0; ti < gt; ++ti)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x) {
            p.push_back({next + ti, next + y, next + x});
            max_pos = std::max({max_pos, next + ti, next + y, next + x});
          }
      next = max_pos + 1;
      j += static_cast<size_t>(n);
    }
    auto acc = pos.accessor<int64_t, 3>();
    int64_t max_all = -1;
    for (size_t j = 0; j < cols.size(); ++j)
      for (int s = 0; s < 3; ++s) {
        acc[s][i][cols[j]] = p[j][s];
        max_all = std::max(max_all, p[j][s]);
      }
    deltas[i] = max_all + 1 - l;
  }
  return {pos.to(input_ids.device()), deltas.to(input_ids.device())};
}

Qwen2VLImpl::Qwen2VLImpl(const Config& c) : config(c) {
  model = register_module("model", TextModel(c.text));
  visual = register_module("visual", VisionModel(c.vision, c.is_qwen2_5()));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::Linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor Qwen2VLImpl::embed(const Batch& batch, const at::Tensor& ids_cpu, const std::vector<Grid>& grids) {
  at::Tensor embeds = model->embed_tokens(batch.input_ids);
  if (!batch.pixel_values.defined()) return embeds;
  // The image-token positions, in order, from the host's copy of the ids.
  const at::Tensor where = (ids_cpu.reshape({-1}) == config.image_token_id).nonzero().squeeze(1);
  const at::Tensor features = visual(batch.pixel_values, grids).to(embeds.scalar_type());
  VLM_CHECK(where.size(0) == features.size(0), "the prompt has ", where.size(0), " image tokens but the images give ",
            features.size(0), " features");
  const at::Tensor flat = embeds.reshape({-1, embeds.size(-1)});
  return flat.index_copy(0, to_device_async(where, embeds.device()), features).view(embeds.sizes());
}

at::Tensor Qwen2VLImpl::forward_hidden(const Batch& batch, DecodeState* state) {
  // Everything the host needs from the batch first (ids, mask, grids, positions), so the device work queued below
  // never has to drain for a copy back.
  const at::Tensor ids_cpu = batch.input_ids.to(at::kCPU);
  const at::Tensor mask_cpu = batch.attention_mask.defined() ? batch.attention_mask.to(at::kCPU) : at::Tensor();
  const std::vector<Grid> grids = grids_of(batch.image_grid_thw);
  const auto [pos_cpu, deltas_cpu] = rope_index(ids_cpu, mask_cpu, grids, config, batch.packed_lengths);
  const at::Tensor embeds = embed(batch, ids_cpu, grids);
  const at::Tensor pos = to_device_async(pos_cpu, embeds.device());
  const at::Tensor deltas = to_device_async(deltas_cpu, embeds.device());
  const int64_t b = batch.input_ids.size(0), l = batch.input_ids.size(1);
  nn::AttentionMask mask;
  if (!batch.packed_lengths.empty()) {
    VLM_CHECK(!state, "a packed batch is for training, not for decoding");
    mask = nn::packed_mask(batch.packed_lengths, embeds.device());
  } else if (mask_cpu.defined() && !mask_cpu.all().item<bool>()) {
    mask.dense = causal_mask(batch.attention_mask, 0, l);
  }
  if (!state) return model(embeds, pos, mask, nullptr);
  const auto longs = at::TensorOptions().dtype(at::kLong).device(embeds.device());
  const at::Tensor prompt_mask =
      batch.attention_mask.defined() ? batch.attention_mask.to(at::kLong) : at::ones({b, l}, longs);
  VLM_CHECK(state->capacity == 0 || state->capacity >= l, "the KV cache holds ", state->capacity,
            " positions but the prompt has ", l);
  state->cache = nn::KVCache(config.text.num_hidden_layers, state->capacity);
  state->rope_deltas = deltas;
  state->length = l;
  if (state->capacity > 0) {
    state->attention_mask = at::zeros({b, state->capacity}, longs.dtype(at::kBool));
    state->attention_mask.narrow(1, 0, l).copy_(prompt_mask);
  } else {
    state->attention_mask = prompt_mask;
  }
  at::Tensor h = model(embeds, pos, mask, &state->cache);
  if (state->capacity > 0) {
    state->slot = at::full({1}, l, longs);
    state->cache.set_slot(state->slot);
  }
  return h;
}

at::Tensor Qwen2VLImpl::decode_hidden(const at::Tensor& tokens, DecodeState& state) {
  const int64_t b = tokens.size(0), l = tokens.size(1);
  const auto opts = at::TensorOptions().dtype(at::kLong).device(tokens.device());
  at::Tensor p, embeds;
  nn::AttentionMask mask;
  if (state.cache.fixed()) {
    // Device-side only (see DecodeState): mark the slot, attend to every marked slot, advance.
    VLM_CHECK(l == 1, "a fixed KV cache decodes one token per step, got ", l);
    state.require_room();
    const ops::DecodeStepStart start = ops::begin_decode_step(tokens, model->embed_tokens->weight,
                                                              state.attention_mask, state.slot, state.rope_deltas);
    embeds = start.embeds;
    p = start.positions.view({b, 1});
    mask.dense = state.attention_mask.view({b, 1, 1, -1});
  } else {
    state.attention_mask = at::cat({state.attention_mask, at::ones({b, l}, opts)}, 1);
    // Every stream is cache position + rope delta while decoding.
    p = at::arange(state.length, state.length + l, opts).view({1, l}) + state.rope_deltas.view({b, 1});
    mask.dense = causal_mask(state.attention_mask, state.length, l);
    embeds = model->embed_tokens(tokens);
  }
  const at::Tensor h = model(embeds, p.unsqueeze(0).expand({3, b, l}), mask, &state.cache);
  if (state.cache.fixed()) state.slot.add_(1);
  state.length += l;
  return h;
}

at::Tensor Qwen2VLImpl::plain_lm_head_weight() {
  if (!lm_head) return model->embed_tokens->weight;
  return lm_head->bias.defined() || lm_head->adapter() ? at::Tensor() : lm_head->weight;
}

at::Tensor Qwen2VLImpl::logits(const at::Tensor& hidden) {
  if (lm_head) return lm_head(hidden);
  return ops::linear(hidden, model->embed_tokens->weight);
}

}  // namespace vlm::qwen2_vl
