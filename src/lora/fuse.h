// Fusing adapters into the base weights, and writing the fused model as a checkpoint folder that loads like the
// base one (published flat layout, plus the base folder's config, tokenizer and processor files).
#pragma once

#include <optional>
#include <string>

#include <torch/torch.h>

namespace vlm::lora {

// Merges every attached LoRA / DoRA adapter of `model` into its layer's weight and removes the adapters:
//   LoRA W' = W + scale * B A;   DoRA W' = m / ||W + scale * B A||_row * (W + scale * B A)   (biases unchanged)
// computed in float32 and cast back to the weight's dtype, on the weight's device. Returns the number of layers fused.
int64_t fuse_adapters(torch::nn::Module& model);

struct FusedCheckpointOptions {
  std::optional<at::ScalarType> dtype;  // cast floating-point weights to this (default: as the model holds them)
};

// Writes OUT_DIR/model.safetensors with every parameter of `model` under its module name (= the published
// layout; lm_head.weight is left out when BASE_DIR/config.json ties the embeddings), and copies every other file of
// BASE_DIR byte for byte (config.json, generation_config.json, tokenizer*, preprocessor_config.json,
// chat_template*, ...; not *.safetensors, *.bin, *.pt, *.pth, *.gguf nor the weight index files). Creates OUT_DIR.
// Errors: adapters still attached (fuse first), OUT_DIR being BASE_DIR.
void save_fused_checkpoint(const std::string& base_dir, const std::string& out_dir, torch::nn::Module& model,
                           const FusedCheckpointOptions& options = {});

}  // namespace vlm::lora
