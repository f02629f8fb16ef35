// Internal to src/lora: the adapter file formats parsed into one in-memory form, before it is checked against a
// model and attached (adapter_load.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/json.h"
#include "lora/lora_linear.h"

namespace vlm::lora::detail {

// The tensors of one wrapped layer, in PEFT's orientation, float32.
struct LayerTensors {
  at::Tensor A;          // [r, in]
  at::Tensor B;          // [out, r]
  at::Tensor magnitude;  // [out], DoRA only
  std::vector<std::string> keys;  // the file keys these came from, for messages
};

struct AdapterFile {
  std::string format;        // "peft" | "mlx-vlm"
  std::string config_path;   // DIR/adapter_config.json
  std::string weights_path;  // the .safetensors file
  LoraSettings settings;
  double scale = 0;  // alpha / r (or / sqrt(r)) for PEFT; given directly by mlx-vlm
  std::string base_model_name_or_path;
  // Module path as the file names it, with the family layout already mapped for mlx-vlm (PEFT paths are mapped
  // by the loader through the family's key map).
  std::map<std::string, LayerTensors> layers;
  std::vector<std::string> unrecognised_keys;  // keys that are no adapter tensor at all
};

AdapterFile read_peft_adapter(const std::string& dir, const Json& config, const std::string& config_path);
AdapterFile read_mlx_vlm_adapter(const std::string& dir, const Json& config, const std::string& config_path);

// Names of the regular files directly inside `dir`, sorted.
std::vector<std::string> regular_files(const std::string& dir);

}  // namespace vlm::lora::detail
