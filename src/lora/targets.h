// Which linear layers of a model get an adapter: PEFT's target_modules rules on our module paths.
//
// Module paths are the published flat names (model.layers.3.self_attn.q_proj, visual.blocks.0.attn.qkv,
// visual.merger.mlp.0). A target list matches a module when the path equals an entry or ends with "." + entry
// ("q_proj" matches model.layers.3.self_attn.q_proj; "self_attn.q_proj" also works), as PEFT does for a list. A
// single entry that starts with "re:" or holds regex metacharacters is a full-match regex (PEFT's rule for a string
// target_modules), tried on the flat path and on transformers 5's in-memory path (model.language_model.layers.N...,
// model.visual...), so regexes written for either work. "all-linear" is every candidate.
//
// Candidates are the linears of the language model (model.*) and, with train_vision, of the vision tower
// (visual.*: blocks and merger). lm_head and the embeddings are never candidates.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/linear.h"
#include "text/regex.h"

namespace vlm::lora {

// Every nn::Linear of `root` by module path, in registration order.
std::vector<std::pair<std::string, std::shared_ptr<nn::LinearImpl>>> named_linears(torch::nn::Module& root);

// The transformers 5 in-memory path of a flat module path ("model.layers.0.x" -> "model.language_model.layers.0.x",
// "visual.x" -> "model.visual.x"); other paths unchanged.
std::string transformers5_path(const std::string& flat_path);

bool is_language_path(const std::string& path);  // model.*
bool is_vision_path(const std::string& path);    // visual.*

class TargetMatcher {
 public:
  // `targets` as in AttachOptions (empty = every candidate). A malformed regex is an error naming it.
  TargetMatcher(const std::vector<std::string>& targets, bool train_vision);

  // Whether the module at `path` is selected (candidates only: lm_head and vision without train_vision are not).
  bool selects(const std::string& path) const;
  // Whether the target rules alone (ignoring the candidate rule) match `path`: used to report targets that hit
  // vision modules while train_vision is off.
  bool rules_match(const std::string& path) const;
  // "q_proj, v_proj", "regex '...'" or "all-linear" for messages.
  std::string describe() const;

 private:
  bool matches_name_list(const std::string& path) const;
  bool matches_regex(const std::string& path) const;

  std::vector<std::string> names_;
  std::shared_ptr<const text::Regex> regex_;  // anchored: \A(?:pattern)\z
  std::string regex_source_;
  bool all_ = false;
  bool train_vision_ = false;
};

// True when a single target string is a regex under PEFT-like rules ("re:" prefix or a metacharacter).
bool looks_like_regex(const std::string& target);

}  // namespace vlm::lora
