#include "lora/targets.h"

#include "core/error.h"

namespace vlm::lora {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<std::pair<std::string, std::shared_ptr<nn::LinearImpl>>> named_linears(torch::nn::Module& root) {
  std::vector<std::pair<std::string, std::shared_ptr<nn::LinearImpl>>> out;
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false))
    if (auto linear = std::dynamic_pointer_cast<nn::LinearImpl>(item.value())) out.emplace_back(item.key(), linear);
  return out;
}

std::string transformers5_path(const std::string& flat_path) {
  if (starts_with(flat_path, "model.")) return "model.language_model." + flat_path.substr(6);
  if (starts_with(flat_path, "visual.")) return "model." + flat_path;
  return flat_path;
}

bool is_language_path(const std::string& path) { return starts_with(path, "model."); }
bool is_vision_path(const std::string& path) { return starts_with(path, "visual."); }

bool looks_like_regex(const std::string& target) {
  if (starts_with(target, "re:")) return true;
  // '.' is left out on purpose: dotted module paths ("self_attn.q_proj") are names, not patterns.
  return target.find_first_of("*+?[](){}|^$\\") != std::string::npos;
}

TargetMatcher::TargetMatcher(const std::vector<std::string>& targets, bool train_vision)
    : train_vision_(train_vision) {
  if (targets.empty() || (targets.size() == 1 && targets[0] == "all-linear")) {
    all_ = true;
    return;
  }
  if (targets.size() == 1 && looks_like_regex(targets[0])) {
    regex_source_ = starts_with(targets[0], "re:") ? targets[0].substr(3) : targets[0];
    VLM_CHECK(!regex_source_.empty(), "LoRA targets: the regex after \"re:\" is empty");
    regex_ = text::Regex::compile("\\A(?:" + regex_source_ + ")\\z", "LoRA target regex " + quote(regex_source_));
    return;
  }
  for (const std::string& t : targets) {
    VLM_CHECK(!t.empty(), "LoRA targets: an empty module name");
    VLM_CHECK(t != "all-linear", "LoRA targets: \"all-linear\" must be the only target");
    VLM_CHECK(!looks_like_regex(t), "LoRA targets: ", quote(t),
              " looks like a regex; a regex must be the only target (as PEFT's string target_modules)");
    names_.push_back(t);
  }
}

bool TargetMatcher::matches_name_list(const std::string& path) const {
  for (const std::string& path_form : {path, transformers5_path(path)})
    for (const std::string& name : names_)
      if (path_form == name || ends_with(path_form, "." + name)) return true;
  return false;
}

bool TargetMatcher::matches_regex(const std::string& path) const {
  std::vector<text::MatchSpan> spans;
  for (const std::string& path_form : {path, transformers5_path(path)}) {
    spans.clear();
    regex_->find_all(path_form, spans);
    if (!spans.empty()) return true;
  }
  return false;
}

bool TargetMatcher::rules_match(const std::string& path) const {
  if (path == "lm_head" || ends_with(path, ".lm_head")) return false;
  if (all_) return is_language_path(path) || is_vision_path(path);
  return regex_ ? matches_regex(path) : matches_name_list(path);
}

bool TargetMatcher::selects(const std::string& path) const {
  const bool candidate = is_language_path(path) || (train_vision_ && is_vision_path(path));
  return candidate && rules_match(path);
}

std::string TargetMatcher::describe() const {
  if (all_) return train_vision_ ? "all-linear (language model and vision tower)" : "all-linear (language model)";
  if (regex_) return "regex " + quote(regex_source_);
  std::string out;
  for (const std::string& n : names_) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace vlm::lora
