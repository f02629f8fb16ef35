#include "lora/attach.h"

#include <set>

#include "core/error.h"
#include "lora/targets.h"

namespace vlm::lora {
namespace {

std::string first_few(const std::vector<std::string>& names, size_t shown = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > shown) out += vlm::str(", ... (", names.size() - shown, " more)");
  return out;
}

}  // namespace

int64_t count_parameters(torch::nn::Module& model, bool trainable_only) {
  std::set<const void*> seen;
  int64_t total = 0;
  for (const at::Tensor& p : model.parameters(/*recurse=*/true)) {
    if (trainable_only && !p.requires_grad()) continue;
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    total += p.numel();
  }
  return total;
}

void attach_one(nn::LinearImpl& linear, const std::string& path, const std::shared_ptr<LoraAdapter>& adapter) {
  VLM_CHECK(!linear.adapter(), "module ", path, " already has an adapter; remove or fuse it first");
  adapter->train(linear.is_training());  // a fresh module is in training mode; follow the layer (eval: no dropout)
  linear.set_adapter(adapter);
}

AttachResult attach_lora(torch::nn::Module& model, const AttachOptions& options) {
  const LoraSettings settings = options.settings();
  (void)settings.scale();  // validates r
  const TargetMatcher matcher(options.targets, options.train_vision);
  const auto linears = named_linears(model);

  std::vector<std::pair<std::string, std::shared_ptr<nn::LinearImpl>>> selected;
  std::vector<std::string> vision_hits;
  for (const auto& [path, linear] : linears) {
    if (matcher.selects(path)) selected.emplace_back(path, linear);
    else if (!options.train_vision && is_vision_path(path) && !options.targets.empty() &&
             options.targets != std::vector<std::string>{"all-linear"} && matcher.rules_match(path))
      vision_hits.push_back(path);
  }
  if (!vision_hits.empty())
    fail("LoRA targets ", matcher.describe(), " match vision modules (", first_few(vision_hits),
         ") but train_vision is off: turn it on or narrow the targets");
  if (selected.empty()) {
    std::vector<std::string> available;
    for (const auto& l : linears) available.push_back(l.first);
    fail("LoRA targets ", matcher.describe(), " match no linear layer", options.train_vision ? "" : " of the language model",
         " (linear layers: ", first_few(available, 10), ")");
  }

  // Freeze the base model first, so only the adapters created below are trainable.
  for (at::Tensor& p : model.parameters(/*recurse=*/true)) p.set_requires_grad(false);

  AttachResult result;
  for (const auto& [path, linear] : selected) {
    auto adapter = std::make_shared<LoraAdapter>(*linear, settings);
    attach_one(*linear, path, adapter);
    result.adapters.push_back({path, linear, adapter});
  }
  result.trainable_parameters = count_parameters(model, /*trainable_only=*/true);
  result.total_parameters = count_parameters(model, /*trainable_only=*/false);
  return result;
}

void remove_adapters(torch::nn::Module& model) {
  for (const auto& [path, linear] : named_linears(model))
    if (linear->adapter()) linear->set_adapter(nullptr);
}

std::vector<std::string> wrapped_leaf_names(const std::vector<AttachedAdapter>& adapters) {
  std::set<std::string> names;
  for (const AttachedAdapter& a : adapters) {
    // The last path component; a numeric one (visual.merger.mlp.0) keeps its parent ("mlp.0"), since PEFT's
    // suffix rule would otherwise match every ".0" module.
    size_t dot = a.path.rfind('.');
    std::string leaf = dot == std::string::npos ? a.path : a.path.substr(dot + 1);
    if (!leaf.empty() && leaf.find_first_not_of("0123456789") == std::string::npos && dot != std::string::npos) {
      const size_t parent = a.path.rfind('.', dot - 1);
      leaf = a.path.substr(parent == std::string::npos ? 0 : parent + 1);
    }
    names.insert(leaf);
  }
  return {names.begin(), names.end()};
}

}  // namespace vlm::lora
