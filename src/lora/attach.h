// Attaching LoRA / DoRA adapters to a model from outside (module surgery through nn::LinearImpl::set_adapter) and
// freezing the base model. The model code never knows about adapters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "lora/lora_linear.h"

namespace vlm::lora {

struct AttachOptions {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0;
  bool rslora = false, dora = false;
  std::string init = "default";  // "default" | "gaussian"
  // Empty = every linear of the language model (q, k, v, o, gate, up, down; never lm_head or the embeddings).
  // Names match module path suffixes ("q_proj"); one entry starting with "re:" or holding regex metacharacters is a
  // full-match regex; "all-linear" = every linear but lm_head. See lora/targets.h.
  std::vector<std::string> targets;
  bool train_vision = false;  // also the vision tower's linears (visual.blocks.*, visual.merger.*)

  LoraSettings settings() const { return {r, alpha, dropout, rslora, dora, init}; }
};

struct AttachedAdapter {
  std::string path;  // flat module path, e.g. "model.layers.0.self_attn.q_proj"
  std::shared_ptr<nn::LinearImpl> linear;
  std::shared_ptr<LoraAdapter> adapter;
};

struct AttachResult {
  std::vector<AttachedAdapter> adapters;  // in module order
  int64_t trainable_parameters = 0;       // adapter parameters: sum of r * (in + out) (+ out for DoRA)
  int64_t total_parameters = 0;           // every distinct parameter of the model, adapters included
};

// Creates and attaches fresh adapters (initialised as options.init says; B = 0 so outputs are unchanged) on the
// selected linears, and freezes every other parameter (requires_grad false). Adapters take the layer's train/eval
// mode. Errors: no module matches (naming the targets), a target matching vision modules while train_vision is off,
// a layer that already has an adapter.
AttachResult attach_lora(torch::nn::Module& model, const AttachOptions& options);

// Attaches a given adapter to one layer (used by load_adapter): error if the layer already has one.
void attach_one(nn::LinearImpl& linear, const std::string& path, const std::shared_ptr<LoraAdapter>& adapter);

// Removes every adapter from the model's linears (weights unchanged; see fuse_adapters to merge first).
void remove_adapters(torch::nn::Module& model);

// Parameter counts of a module tree (each tensor once, even when shared).
int64_t count_parameters(torch::nn::Module& model, bool trainable_only);

// The distinct leaf names of the wrapped layers, sorted ("k_proj", "q_proj", ...): PEFT's target_modules on save.
// A numeric leaf keeps its parent ("mlp.0" for visual.merger.mlp.0).
std::vector<std::string> wrapped_leaf_names(const std::vector<AttachedAdapter>& adapters);

}  // namespace vlm::lora
