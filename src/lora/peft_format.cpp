// HF PEFT's adapter format: writing (save_peft) and parsing (read_peft_adapter).
#include <map>
#include <utility>

#include "core/error.h"
#include "core/file.h"
#include "core/tensor_io.h"
#include "lora/adapter_formats.h"
#include "lora/adapter_io.h"

namespace vlm::lora {
namespace {

constexpr const char* kPrefix = "base_model.model.";
constexpr const char* kSuffixA = ".lora_A.weight";
constexpr const char* kSuffixB = ".lora_B.weight";
constexpr const char* kSuffixMagnitude = ".lora_magnitude_vector";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A field that must be absent, null, false or empty ({} / []); anything else is an adapter we would run wrongly.
void require_unset(const Json& config, const std::string& config_path, const std::string& field, const char* why) {
  if (!config.contains(field)) return;
  const Json& v = config.at(field);
  const bool unset = v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_object() || v.is_array()) && v.empty());
  if (!unset)
    fail(config_path, ": ", field, " = ", v.dump(), " is not supported (", why, ")");
}

}  // namespace

void save_peft(const std::string& dir, const std::vector<AttachedAdapter>& adapters, const AttachOptions& options,
               const std::string& base_model_name_or_path, const Family* family, PeftLayout layout) {
  VLM_CHECK(!adapters.empty(), "save_peft: no adapters to save in ", dir);
  make_directories(dir);

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const AttachedAdapter& a : adapters) {
    const bool nested = layout == PeftLayout::kTransformers && family && family->transformers_path;
    const std::string base = kPrefix + (nested ? family->transformers_path(a.path) : a.path);
    tensors.emplace_back(base + kSuffixA, a.adapter->lora_A.detach().to(at::kCPU, at::kFloat));
    tensors.emplace_back(base + kSuffixB, a.adapter->lora_B.detach().to(at::kCPU, at::kFloat));
    if (a.adapter->magnitude.defined())
      tensors.emplace_back(base + kSuffixMagnitude, a.adapter->magnitude.detach().to(at::kCPU, at::kFloat));
  }
  save_safetensors(path_join(dir, "adapter_model.safetensors"), tensors, {{"format", "pt"}});

  Json config = Json::object();
  config["peft_type"] = "LORA";
  config["task_type"] = "CAUSAL_LM";
  config["base_model_name_or_path"] = base_model_name_or_path;
  config["r"] = options.r;
  // An integral alpha is written as an integer, as PEFT's own configs have it.
  if (options.alpha == static_cast<double>(static_cast<int64_t>(options.alpha)))
    config["lora_alpha"] = static_cast<int64_t>(options.alpha);
  else
    config["lora_alpha"] = options.alpha;
  config["lora_dropout"] = options.dropout;
  config["target_modules"] = wrapped_leaf_names(adapters);
  config["use_rslora"] = options.rslora;
  config["use_dora"] = options.dora;
  config["bias"] = "none";
  if (options.init == "default") config["init_lora_weights"] = true;
  else config["init_lora_weights"] = options.init;
  config["fan_in_fan_out"] = false;
  config["modules_to_save"] = nullptr;
  config["rank_pattern"] = Json::object();
  config["alpha_pattern"] = Json::object();
  config["inference_mode"] = true;
  config["layers_to_transform"] = nullptr;
  config["layers_pattern"] = nullptr;
  atomic_write_string(path_join(dir, "adapter_config.json"), config.dump(2) + "\n");
}

namespace detail {

AdapterFile read_peft_adapter(const std::string& dir, const Json& config, const std::string& config_path) {
  AdapterFile out;
  out.format = "peft";
  out.config_path = config_path;
  const JsonObject c(config, config_path);
  const std::string peft_type = c.get<std::string>("peft_type");
  if (peft_type != "LORA")
    fail(config_path, ": peft_type ", quote(peft_type), " is not supported (only \"LORA\")");

  out.settings.r = c.get<int64_t>("r");
  VLM_CHECK(out.settings.r > 0, c.where("r"), ": must be positive, got ", out.settings.r);
  out.settings.alpha = c.get<double>("lora_alpha", 8.0);
  out.settings.dropout = c.get<double>("lora_dropout", 0.0);
  VLM_CHECK(out.settings.dropout >= 0 && out.settings.dropout < 1, c.where("lora_dropout"), ": must be in [0, 1)");
  out.settings.rslora = c.get<bool>("use_rslora", false);
  out.settings.dora = c.get<bool>("use_dora", false);
  if (config.contains("init_lora_weights") && config["init_lora_weights"].is_string()) {
    out.settings.init = config["init_lora_weights"].get<std::string>();
    // These inits rewrite the base weights (W - B A) when the adapter is created; such an adapter only fits its
    // residual base model, not the published one.
    for (const char* p : {"pissa", "olora", "corda", "loftq"})
      if (out.settings.init.rfind(p, 0) == 0)
        fail(config_path, ": init_lora_weights = ", quote(out.settings.init),
             " is not supported (the adapter expects a modified base model; convert it with PEFT's "
             "path_initial_model_for_weight_conversion first)");
  }
  out.scale = out.settings.scale();
  out.base_model_name_or_path = c.get<std::string>("base_model_name_or_path", "");

  const std::string bias = c.get<std::string>("bias", "none");
  if (bias != "none") fail(config_path, ": bias = ", quote(bias), " is not supported (only \"none\")");
  require_unset(config, config_path, "fan_in_fan_out", "only [out, in] weights, as nn.Linear");
  require_unset(config, config_path, "modules_to_save", "fully trained extra modules are not loaded");
  require_unset(config, config_path, "rank_pattern", "one rank for every layer");
  require_unset(config, config_path, "alpha_pattern", "one alpha for every layer");
  require_unset(config, config_path, "lora_bias", "LoRA B without bias");
  require_unset(config, config_path, "layer_replication", "the model's layers are not replicated");
  require_unset(config, config_path, "target_parameters", "LoRA on bare parameters (MoE experts)");
  require_unset(config, config_path, "trainable_token_indices", "trained embedding rows are not loaded");
  require_unset(config, config_path, "alora_invocation_tokens", "activated LoRA");

  out.weights_path = path_join(dir, "adapter_model.safetensors");
  if (!path_exists(out.weights_path)) {
    if (path_exists(path_join(dir, "adapter_model.bin")))
      fail(dir, ": adapter_model.bin (a pickle) is not supported; save the adapter with safe_serialization=True");
    fail(dir, ": adapter_model.safetensors is missing");
  }
  const auto file = safetensors::File::open(out.weights_path);
  const std::string prefix = kPrefix;
  for (const auto& info : file->tensors()) {
    const std::string& key = info.name;
    std::string rest = key.rfind(prefix, 0) == 0 ? key.substr(prefix.size()) : "";
    at::Tensor* slot = nullptr;
    std::string module;
    if (!rest.empty()) {
      static const std::pair<const char*, int> kSuffixes[] = {{kSuffixA, 0}, {kSuffixB, 1}, {kSuffixMagnitude, 2}};
      for (const auto& [suffix_chars, which] : kSuffixes) {
        const std::string suffix = suffix_chars;
        if (!ends_with(rest, suffix) || rest.size() == suffix.size()) continue;
        module = rest.substr(0, rest.size() - suffix.size());
        LayerTensors& layer = out.layers[module];
        slot = which == 0 ? &layer.A : which == 1 ? &layer.B : &layer.magnitude;
        layer.keys.push_back(key);
        break;
      }
    }
    if (!slot) {
      out.unrecognised_keys.push_back(key);
      continue;
    }
    *slot = to_torch(*file, info).to(at::kFloat);
  }
  return out;
}

}  // namespace detail
}  // namespace vlm::lora
