#include "text/tokenizer_config.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "text/component_json.h"

namespace vlm::text {

namespace {

// A token written as "text" or {"content": "text", "lstrip": ..., ...}. `named` tokens are special by definition.
AddedToken read_token(const Json& v, const std::string& where, bool named) {
  AddedToken t;
  if (v.is_string()) {
    t.content = v.get<std::string>();
    t.special = true;
    t.normalized = false;
    return t;
  }
  if (!v.is_object()) fail(where, ": expected a token string or object, got ", json_type_name(v));
  const JsonObject obj(v, "", "");
  const auto get_bool = [&](const char* key, bool fallback) {
    if (!obj.has(key)) return fallback;
    if (!v.at(key).is_boolean()) fail(where, ".", key, ": expected a boolean, got ", json_type_name(v.at(key)));
    return v.at(key).get<bool>();
  };
  if (!obj.has("content") || !v.at("content").is_string()) fail(where, ".content: expected a string");
  t.content = v.at("content").get<std::string>();
  t.special = get_bool("special", false) || named;
  t.single_word = get_bool("single_word", false);
  t.lstrip = get_bool("lstrip", false);
  t.rstrip = get_bool("rstrip", false);
  t.normalized = get_bool("normalized", !t.special);
  return t;
}

void read_named(const Json& root, const std::string& origin, TokenizerConfig& cfg, bool only_missing) {
  for (const char* name : kNamedSpecialTokens) {
    auto it = root.find(name);
    if (it == root.end() || it->is_null()) continue;
    if (only_missing && cfg.named.count(name)) continue;
    cfg.named[name] = read_token(*it, origin + ": " + name, true);
  }
  for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) continue;
    if (only_missing && !cfg.extra_special.empty()) continue;
    const std::string where = origin + ": " + key;
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i)
        cfg.extra_special.push_back(read_token((*it)[i], str(where, "[", i, "]"), true));
    } else if (it->is_object()) {
      for (auto e = it->begin(); e != it->end(); ++e)
        cfg.extra_special.push_back(read_token(e.value(), where + "." + e.key(), true));
    } else {
      fail(where, ": expected a list of tokens, got ", json_type_name(*it));
    }
  }
}

}  // namespace

TokenizerConfig parse_tokenizer_config(const std::string& json_text, const std::string& origin) {
  const Json root = parse_json_strict(json_text, origin);
  const JsonObject top(root, origin);
  TokenizerConfig cfg;
  read_named(root, origin, cfg, false);
  cfg.add_bos_token = top.maybe<bool>("add_bos_token");
  cfg.add_eos_token = top.maybe<bool>("add_eos_token");
  cfg.clean_up_tokenization_spaces = top.get<bool>("clean_up_tokenization_spaces", false);
  cfg.clean_up_for_bpe_anyway =
      top.get<bool>("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", false);
  if (top.has("added_tokens_decoder")) {
    const JsonObject table = top.object("added_tokens_decoder");
    std::vector<std::pair<int64_t, AddedToken>> entries;
    for (auto it = table.json().begin(); it != table.json().end(); ++it) {
      errno = 0;
      char* end = nullptr;
      const long long id = std::strtoll(it.key().c_str(), &end, 10);
      if (it.key().empty() || *end != '\0' || errno != 0 || id < 0 || id >= INT32_MAX)
        fail(table.where(it.key()), ": the key must be a token id");
      AddedToken token = read_token(it.value(), table.where(it.key()), false);
      token.id = static_cast<int32_t>(id);
      entries.emplace_back(id, token);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& e : entries) cfg.added_tokens_decoder.push_back(e.second);
  }
  return cfg;
}

TokenizerConfig read_tokenizer_config(const std::string& dir) {
  TokenizerConfig cfg;
  const std::string config_path = path_join(dir, "tokenizer_config.json");
  if (path_exists(config_path)) cfg = parse_tokenizer_config(read_file(config_path, 64u << 20), config_path);
  const std::string map_path = path_join(dir, "special_tokens_map.json");
  if (path_exists(map_path)) {
    const Json root = parse_json_strict(read_file(map_path, 16u << 20), map_path);
    const JsonObject top(root, map_path);  // must be an object
    read_named(root, map_path, cfg, true);
  }
  return cfg;
}

}  // namespace vlm::text
