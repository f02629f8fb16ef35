// Adapter files: HF PEFT's (adapter_config.json + adapter_model.safetensors) written and read, and mlx-vlm's
// (adapter_config.json + adapters.safetensors) read.
//
// PEFT keys: base_model.model.<module path>.lora_A.weight [r, in], .lora_B.weight [out, r] and, for DoRA,
// .lora_magnitude_vector [out]. We write flat module paths (model.layers.N..., visual.blocks.N...) and read both
// Qwen2-VL layouts (also model.language_model.layers.N..., model.visual...), through the family's key map.
// mlx-vlm keys: <module path>.lora_a [in, r] / .lora_b [r, out] (legacy trainer: .A / .B) with module paths
// language_model.model.layers.N..., vision_tower.blocks.N...; its config gives the scale directly
// (lora_parameters.scale; legacy: alpha).
#pragma once

#include <string>
#include <vector>

#include "lora/attach.h"
#include "models/model.h"
#include "models/registry.h"

namespace vlm::lora {

// Which module paths a saved PEFT adapter uses. transformers >= 4.52 (and 5) nest Qwen2-VL's modules as
// model.language_model.* / model.visual.*, and PEFT 0.21 on transformers 5 only loads adapters keyed that way
// (keys of the published layout are reported missing and ignored): kTransformers is the default. kPublished writes
// the published checkpoint's paths (model.layers.*, visual.*), which older PEFT / transformers pairs expect.
enum class PeftLayout { kTransformers, kPublished };

// Writes DIR/adapter_model.safetensors (float32, atomically) and DIR/adapter_config.json (creating DIR). `options`
// gives r, alpha, dropout, rslora, dora and init; target_modules is the sorted list of distinct leaf names wrapped.
// `family` maps module paths for PeftLayout::kTransformers (null: paths as they are).
void save_peft(const std::string& dir, const std::vector<AttachedAdapter>& adapters, const AttachOptions& options,
               const std::string& base_model_name_or_path, const Family* family = nullptr,
               PeftLayout layout = PeftLayout::kTransformers);

struct LoadedAdapter {
  std::string format;  // "peft" or "mlx-vlm"
  // r, alpha, dropout, rslora, dora as the config says (mlx-vlm: alpha = scale * r, so alpha / r is its scale);
  // targets = the wrapped leaf names.
  AttachOptions options;
  std::vector<AttachedAdapter> adapters;
  std::string base_model_name_or_path;  // PEFT only ("" when absent)
};

// Reads the adapter in DIR (format detected from adapter_config.json: "peft_type" = PEFT, "lora_parameters" or
// "rank" = mlx-vlm), checks it against the model and attaches it: base parameters frozen, adapter parameters
// trainable, adapters in the model's train/eval mode. Everything is checked before anything is attached. Errors:
// unsupported config fields (rank_pattern, alpha_pattern, bias, fan_in_fan_out, modules_to_save, lora_bias,
// layer_replication, DoRA in mlx-vlm), keys that match no linear layer of the model, shapes that do not fit, layers
// with only one of A / B: each message names the file and the keys or field.
LoadedAdapter load_adapter(const std::string& dir, Model& model, const Family& family);

}  // namespace vlm::lora
