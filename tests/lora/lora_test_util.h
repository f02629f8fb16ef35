// Shared by the LoRA tests: the tiny Qwen2-VL fixture model, its "one_image" input and logits comparisons.
#pragma once

#include <string>

#include <torch/torch.h>

#include "core/tensor_io.h"
#include "models/registry.h"
#include "util/test_util.h"

namespace vlm::test {

inline std::string tiny_model_dir() { return fixture("tiny-qwen2-vl"); }

inline LoadedModel load_tiny_model() { return load_model(tiny_model_dir(), {}); }

// The "one_image" case of tests/fixtures/tiny-qwen2-vl/parity.safetensors (an image and a short prompt).
inline Batch one_image_batch() {
  const auto f = safetensors::Checkpoint::open(tiny_model_dir() + "/parity.safetensors");
  Batch b;
  b.input_ids = to_torch(f, "one_image.input_ids").clone();
  b.attention_mask = to_torch(f, "one_image.attention_mask").clone();
  b.pixel_values = to_torch(f, "one_image.pixel_values").clone();
  b.image_grid_thw = to_torch(f, "one_image.image_grid_thw").clone();
  return b;
}

inline at::Tensor logits_of(Model& model, const Batch& batch) {
  torch::NoGradGuard no_grad;
  return model.logits(model.forward_hidden(batch, nullptr));
}

inline double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

// Gives every adapter's B (and DoRA magnitude) seeded non-zero values, so that the adapter changes the output.
template <typename Adapters>
void randomise_adapters(const Adapters& adapters, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (const auto& a : adapters) {
    a.adapter->lora_B.normal_(0.0, 0.5);
    if (a.adapter->magnitude.defined()) a.adapter->magnitude.mul_(1.0 + 0.2 * torch::rand_like(a.adapter->magnitude));
  }
}

}  // namespace vlm::test
