// tokenizer_config.json (and special_tokens_map.json): the special-token strings transformers knows a tokenizer by,
// the added_tokens_decoder table, add_bos_token / add_eos_token and clean_up_tokenization_spaces.
// A special token may be written as a string or as an object {"content": ..., "lstrip": ..., ...}.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "text/added_vocabulary.h"

namespace vlm::text {

// transformers' named special tokens, in its SPECIAL_TOKENS_ATTRIBUTES order (the order new ones are added in).
inline constexpr const char* kNamedSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                      "pad_token", "cls_token", "mask_token"};

struct TokenizerConfig {
  // "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" -> token
  // (content and flags; id unset).
  std::map<std::string, AddedToken> named;
  // additional_special_tokens / extra_special_tokens.
  std::vector<AddedToken> extra_special;
  // added_tokens_decoder, in increasing id order (ids from the keys).
  std::vector<AddedToken> added_tokens_decoder;
  std::optional<bool> add_bos_token, add_eos_token;
  bool clean_up_tokenization_spaces = false;  // transformers v5's default
  // transformers 5 ignores clean_up_tokenization_spaces for BPE tokenizers unless this is also set.
  bool clean_up_for_bpe_anyway = false;
};

// Parses tokenizer_config.json text; errors name `origin` and the field.
TokenizerConfig parse_tokenizer_config(const std::string& json_text, const std::string& origin);
// Reads <dir>/tokenizer_config.json and fills what it lacks from <dir>/special_tokens_map.json; missing files give
// an empty config.
TokenizerConfig read_tokenizer_config(const std::string& dir);

}  // namespace vlm::text
