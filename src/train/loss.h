// The causal language-model loss over labelled positions only: hidden states are gathered at the positions whose
// next token is labelled, and only those rows go through the LM head, so full-vocabulary logits are never made
// for prompts, images or padding. Cross-entropy in float32, summed; the caller divides by the number of labelled
// tokens of the whole (accumulated) batch, as transformers does with num_items_in_batch.
#pragma once

#include <torch/torch.h>

#include "models/model.h"

namespace vlm::train {

struct LossSums {
  at::Tensor loss_sum;  // scalar float32, differentiable
  int64_t tokens = 0;   // labelled tokens
  at::Tensor correct;   // scalar int64 on hidden's device: argmax == label (token accuracy)
};

// hidden [B, L, H] from Model::forward_hidden, labels [B, L] (transformers' convention, unshifted), on the CPU (as
// the collators give them: the labelled rows are then found without waiting for the device) or on hidden's device.
// With a plain, frozen LM head (Model::plain_lm_head_weight) the head and the cross-entropy run as one autograd
// function that keeps no logits for backward (only the [labelled rows, H] gradient, computed in forward). Otherwise
// rows go through Model::logits in chunks of `chunk` positions under plain autograd.
LossSums causal_lm_loss(Model& model, const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk = 4096);

}  // namespace vlm::train
