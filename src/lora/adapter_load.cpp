// load_adapter: detect the format, check every tensor against the model, then attach (all or nothing).
#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/file.h"
#include "lora/adapter_formats.h"
#include "lora/adapter_io.h"
#include "lora/targets.h"

namespace vlm::lora {
namespace {

std::string shape_str(const at::Tensor& t) { return vlm::str(t.sizes()); }

std::string bullet_list(const std::vector<std::string>& items, size_t shown = 12) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < shown; ++i) out += (i ? "; " : "") + items[i];
  if (items.size() > shown) out += vlm::str("; ... (", items.size() - shown, " more)");
  return out;
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

detail::AdapterFile read_adapter_file(const std::string& dir) {
  const std::string config_path = path_join(dir, "adapter_config.json");
  if (!path_exists(config_path)) {
    VLM_CHECK(is_directory(dir), dir, ": not an adapter folder (no such directory)");
    fail(dir, ": adapter_config.json is missing (expected a PEFT or mlx-vlm adapter folder)");
  }
  const Json config = read_json_file(config_path);
  VLM_CHECK(config.is_object(), config_path, ": expected a JSON object");
  if (config.contains("peft_type")) return detail::read_peft_adapter(dir, config, config_path);
  if (config.contains("lora_parameters") || config.contains("rank"))
    return detail::read_mlx_vlm_adapter(dir, config, config_path);
  fail(config_path, ": neither a PEFT adapter config (no \"peft_type\") nor an mlx-vlm one (no \"lora_parameters\")");
}

}  // namespace

LoadedAdapter load_adapter(const std::string& dir, Model& model, const Family& family) {
  detail::AdapterFile file = read_adapter_file(dir);

  std::map<std::string, std::shared_ptr<nn::LinearImpl>> linears;
  std::map<std::string, size_t> module_order;
  for (auto& [path, linear] : named_linears(model)) {
    module_order.emplace(path, module_order.size());
    linears.emplace(path, linear);
  }

  // Check everything first; report every problem at once.
  std::vector<std::string> problems;
  for (const std::string& key : file.unrecognised_keys) problems.push_back(key + ": not a LoRA tensor of this format");
  struct Planned {
    std::string path;
    std::shared_ptr<nn::LinearImpl> linear;
    const detail::LayerTensors* tensors;
  };
  std::vector<Planned> planned;
  for (const auto& [file_path, t] : file.layers) {
    const std::string keys = join_keys(t.keys);
    // The family's checkpoint key map knows both weight layouts (and drops lm_head when tied).
    std::string path = family.key_map(file_path + ".weight", model);
    path = path.size() > 7 ? path.substr(0, path.size() - 7) : "";
    const auto it = linears.find(path);
    if (it == linears.end()) {
      problems.push_back(keys + ": module " + quote(file_path) + " is no linear layer of the model");
      continue;
    }
    const nn::LinearImpl& linear = *it->second;
    const int64_t r = file.settings.r, in = linear.in_features, out = linear.out_features;
    if (!t.A.defined() || !t.B.defined()) {
      problems.push_back(keys + ": layer " + path + " has only " + (t.A.defined() ? "lora_A" : "lora_B"));
      continue;
    }
    if (t.A.dim() != 2 || t.A.size(0) != r || t.A.size(1) != in)
      problems.push_back(vlm::str(keys, ": lora_A has shape ", shape_str(t.A), ", expected [", r, ", ", in, "] (r, in)"));
    if (t.B.dim() != 2 || t.B.size(0) != out || t.B.size(1) != r)
      problems.push_back(vlm::str(keys, ": lora_B has shape ", shape_str(t.B), ", expected [", out, ", ", r, "] (out, r)"));
    if (file.settings.dora && !t.magnitude.defined())
      problems.push_back(keys + ": use_dora is set but layer " + path + " has no lora_magnitude_vector");
    if (!file.settings.dora && t.magnitude.defined())
      problems.push_back(keys + ": a lora_magnitude_vector but use_dora is false");
    if (t.magnitude.defined() && (t.magnitude.dim() != 1 || t.magnitude.size(0) != out))
      problems.push_back(vlm::str(keys, ": lora_magnitude_vector has shape ", shape_str(t.magnitude), ", expected [", out, "]"));
    planned.push_back({path, it->second, &t});
  }
  std::sort(planned.begin(), planned.end(),
            [&](const Planned& a, const Planned& b) { return module_order[a.path] < module_order[b.path]; });
  if (planned.empty() && problems.empty()) problems.push_back("the file holds no adapter tensors");
  for (const Planned& p : planned)
    if (p.linear->adapter()) problems.push_back(p.path + ": the layer already has an adapter");
  if (!problems.empty())
    fail(file.weights_path, ": the adapter does not fit the model (", problems.size(),
         problems.size() == 1 ? " problem): " : " problems): ", bullet_list(problems));

  // Attach. The base model is frozen, the adapters are trainable (so a loaded adapter can be trained further).
  LoadedAdapter result;
  result.format = file.format;
  result.base_model_name_or_path = file.base_model_name_or_path;
  for (at::Tensor& p : model.parameters(/*recurse=*/true)) p.set_requires_grad(false);
  torch::NoGradGuard no_grad;
  for (const Planned& p : planned) {
    auto adapter = std::make_shared<LoraAdapter>(*p.linear, file.settings, file.scale);
    adapter->lora_A.copy_(p.tensors->A);
    adapter->lora_B.copy_(p.tensors->B);
    if (adapter->magnitude.defined()) adapter->magnitude.copy_(p.tensors->magnitude);
    attach_one(*p.linear, p.path, adapter);
    result.adapters.push_back({p.path, p.linear, adapter});
  }
  const LoraSettings& s = file.settings;
  result.options.r = s.r;
  result.options.alpha = s.alpha;
  result.options.dropout = s.dropout;
  result.options.rslora = s.rslora;
  result.options.dora = s.dora;
  result.options.init = s.init;
  result.options.targets = wrapped_leaf_names(result.adapters);
  for (const AttachedAdapter& a : result.adapters) result.options.train_vision |= is_vision_path(a.path);
  return result;
}

}  // namespace vlm::lora
