// Qwen2-VL / Qwen2.5-VL for conditional generation. Module tree = the published checkpoint layout:
//   model.*   the text decoder      visual.*  the vision tower and merger      lm_head  (absent when tied)
#pragma once

#include <vector>

#include <torch/torch.h>

#include "models/model.h"
#include "models/qwen2_vl/config.h"
#include "models/qwen2_vl/text.h"
#include "models/qwen2_vl/vision.h"

namespace vlm::qwen2_vl {

// M-RoPE positions for a batch, as transformers' get_rope_index: text tokens get equal (t, h, w) positions; each
// image block <|vision_start|><|image_pad|>*n gets t = s, h = s + row, w = s + col over its merged grid; the next
// text starts at the maximum so far + 1. Padded positions (attention_mask 0) get 1. Returns position_ids
// [3, B, L] and rope_deltas [B] = max position + 1 - L. A packed row (B = 1, no padding) of samples of
// `packed_lengths` restarts the positions at each sample, as if each were alone.
std::pair<at::Tensor, at::Tensor> rope_index(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const std::vector<Grid>& grids, const Config& c,
                                             const std::vector<int64_t>& packed_lengths = {});

class Qwen2VLImpl : public Model {
 public:
  explicit Qwen2VLImpl(const Config& c);

  at::Tensor forward_hidden(const Batch& batch, DecodeState* state) override;
  at::Tensor decode_hidden(const at::Tensor& tokens, DecodeState& state) override;
  at::Tensor logits(const at::Tensor& hidden) override;
  at::Tensor plain_lm_head_weight() override;
  int64_t vocab_size() const override { return config.text.vocab_size; }
  int64_t num_layers() const override { return config.text.num_hidden_layers; }
  void set_checkpoint_level(CheckpointLevel level) override { model->set_checkpoint_level(level); }

  // Input embeddings with image features inserted at the image-token positions (error if counts differ), which
  // are read from ids_cpu, the host's copy of batch.input_ids, so that nothing waits for the device.
  at::Tensor embed(const Batch& batch, const at::Tensor& ids_cpu, const std::vector<Grid>& grids);

  Config config;
  TextModel model{nullptr};
  VisionModel visual{nullptr};
  nn::Linear lm_head{nullptr};  // null when tied to model.embed_tokens
};

std::vector<Grid> grids_of(const at::Tensor& image_grid_thw);

}  // namespace vlm::qwen2_vl
