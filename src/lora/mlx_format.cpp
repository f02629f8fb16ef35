// mlx-vlm's adapter format (read only).
//   adapter_config.json  {"fine_tune_type": "lora", "lora_parameters": {"rank", "scale", "dropout", "keys"?}, ...}
//                        legacy trainer: {"rank", "alpha", "dropout"} where alpha is the scale itself
//   adapters.safetensors <module path>.lora_a [in, r] and .lora_b [r, out] (legacy: .A / .B), module paths in
//                        mlx-vlm's tree: language_model.model.layers.N..., language_model.lm_head, vision_tower...
// The side path is scale * (x @ lora_a) @ lora_b, i.e. PEFT's A = lora_a^T and B = lora_b^T with scale given.
#include <utility>

#include "core/error.h"
#include "core/file.h"
#include "core/tensor_io.h"
#include "lora/adapter_formats.h"

namespace vlm::lora::detail {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// mlx-vlm module path -> the published (flat) layout: the inverse of mlx-vlm's sanitize() for Qwen2-VL-style
// models. Paths already in the published layout pass through.
std::string published_path(const std::string& p) {
  if (starts_with(p, "language_model.model.")) return p.substr(15);  // -> model.*
  if (starts_with(p, "language_model.lm_head")) return p.substr(15);
  if (starts_with(p, "vision_tower.")) return "visual." + p.substr(13);
  return p;
}

}  // namespace

AdapterFile read_mlx_vlm_adapter(const std::string& dir, const Json& config, const std::string& config_path) {
  AdapterFile out;
  out.format = "mlx-vlm";
  out.config_path = config_path;
  const JsonObject c(config, config_path);
  std::string suffix_a = ".lora_a", suffix_b = ".lora_b";
  if (c.has("lora_parameters")) {
    const std::string type = c.get<std::string>("fine_tune_type", "lora");
    if (type != "lora")
      fail(config_path, ": fine_tune_type ", quote(type), " is not supported (only \"lora\")");
    const JsonObject p = c.object("lora_parameters");
    out.settings.r = p.get<int64_t>("rank");
    out.scale = p.get<double>("scale");
    out.settings.dropout = p.get<double>("dropout", 0.0);
  } else {
    // The legacy trainer (LoRaLayer): "alpha" multiplies the update directly.
    out.settings.r = c.get<int64_t>("rank");
    out.scale = c.get<double>("alpha", 0.1);
    out.settings.dropout = c.get<double>("dropout", 0.0);
    suffix_a = ".A";
    suffix_b = ".B";
  }
  VLM_CHECK(out.settings.r > 0, config_path, ": rank must be positive, got ", out.settings.r);
  VLM_CHECK(out.settings.dropout >= 0 && out.settings.dropout < 1, config_path, ": dropout must be in [0, 1)");
  out.settings.alpha = out.scale * static_cast<double>(out.settings.r);  // so that alpha / r is the scale

  out.weights_path = path_join(dir, "adapters.safetensors");
  VLM_CHECK(path_exists(out.weights_path), dir, ": adapters.safetensors is missing");
  const auto file = safetensors::File::open(out.weights_path);
  for (const auto& info : file->tensors()) {
    const std::string& key = info.name;
    at::Tensor* slot = nullptr;
    const std::pair<std::string, bool> suffixes[] = {{suffix_a, true}, {suffix_b, false}};
    for (const auto& [suffix, is_a] : suffixes) {
      if (!ends_with(key, suffix) || key.size() == suffix.size()) continue;
      LayerTensors& layer = out.layers[published_path(key.substr(0, key.size() - suffix.size()))];
      slot = is_a ? &layer.A : &layer.B;
      layer.keys.push_back(key);
      break;
    }
    if (!slot) {
      out.unrecognised_keys.push_back(key);
      continue;
    }
    const at::Tensor t = to_torch(*file, info);
    if (t.dim() != 2) {
      out.unrecognised_keys.push_back(key + " (not a matrix)");
      continue;
    }
    *slot = t.to(at::kFloat).t().contiguous();  // [in, r] -> [r, in];  [r, out] -> [out, r]
  }
  return out;
}

}  // namespace vlm::lora::detail
