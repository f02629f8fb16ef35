// From dataset samples to training batches: the model's own chat template and processor (the same path
// generation uses), labels on every assistant turn's tokens and nothing else, right padding.
//
// Labels follow transformers' convention: labels[i] = input_ids[i] where the token is learned, -100 elsewhere; the
// loss shifts them (position i predicts token i + 1). Assistant turns are found from the template's rendering
// (Processor::encode with label_assistant): {% generation %} blocks, or each turn's prefix rendering, so they
// include the turn's end-of-turn token and nothing model-specific is assumed. With train_on_prompt every token is
// learned except image placeholders (they stand for image features, which the model does not predict).
// A sample longer than max_seq_len is cut from the right when that keeps all of its image tokens and at least one
// label; otherwise it is skipped (never truncated through an image).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/processor.h"
#include "train/dataset.h"

namespace vlm::train {

constexpr int64_t kIgnoreIndex = -100;

struct CollateOptions {
  int64_t max_seq_len = 2048;
  bool train_on_prompt = false;
};

struct EncodedSample {
  std::vector<int32_t> ids;
  std::vector<int64_t> labels;  // same length as ids; kIgnoreIndex where nothing is learned
  image::ProcessedImages images;
  std::string origin;
  int64_t label_tokens = 0;
};

// Encodes one sample (decoding its images). Returns nullopt and sets `why` when it cannot fit max_seq_len.
std::optional<EncodedSample> encode_sample(const Processor& processor, const DatasetSample& sample,
                                           const CollateOptions& options, std::string* why);

struct TrainBatch {
  Batch batch;        // right-padded; attention_mask 0 on padding
  at::Tensor labels;  // [B, L] int64, on the CPU (causal_lm_loss finds the labelled rows there)
  int64_t label_tokens = 0;
  int64_t tokens = 0;  // real (unpadded) tokens
  std::vector<std::string> origins;
};

TrainBatch collate(const std::vector<const EncodedSample*>& samples, int32_t pad_id, const at::Device& device);

// The same samples without padding: one row holding them back to back (Batch::packed_lengths). Each sample's first
// label is dropped, as a row's first position predicts nothing (it would be predicted from the previous sample),
// so the loss sums exactly the tokens collate() would.
TrainBatch collate_packed(const std::vector<const EncodedSample*>& samples, const at::Device& device);

}  // namespace vlm::train
