// Reading one tokenizer.json component ({"type": "...", options...}) strictly: every key must be one the
// component understands (or one HF itself ignores), so an option we do not implement is an error naming it rather
// than a silent change of behaviour.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "text/unicode.h"

namespace vlm::text {

class Regex;

// parse_json, plus: nlohmann errors that core's parse_json lets through (a number too large for a double, which
// nlohmann reports as out_of_range rather than parse_error) also become vlm::Error naming `origin`.
inline Json parse_json_strict(const std::string& text, const std::string& origin) {
  try {
    return parse_json(text, origin);
  } catch (const Json::exception& e) {
    fail(origin, ": invalid JSON: ", e.what());
  }
}

// The "type" of a component object at `path` of `file` (errors name both).
inline std::string component_type(const Json& j, const std::string& file, const std::string& path) {
  const JsonObject obj(j, file, path);
  return obj.get<std::string>("type");
}

// Fails naming the first key of `obj` that is not in `allowed` ("type" is always allowed).
inline void check_known_keys(const JsonObject& obj, const std::string& component,
                             std::initializer_list<const char*> allowed) {
  for (auto it = obj.json().begin(); it != obj.json().end(); ++it) {
    const std::string& key = it.key();
    if (key == "type") continue;
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }))
      fail(obj.where(key), ": option ", quote(key), " of ", component, " is not supported");
  }
}

// The dotted path of obj[key] inside its file ("model.merges"), for building nested JsonObjects.
inline std::string child_path(const JsonObject& obj, const std::string& key) {
  return obj.where(key).substr(obj.file().size() + 2);
}

// The child path "path[i]" for arrays.
inline std::string index_path(const std::string& path, size_t i) { return str(path, "[", i, "]"); }

// The steps of a "Sequence" component: the list obj[key], each element built by make(json, file, path) with its own
// path ("decoders[2]"), so that errors inside a step name it. `what` names the list in errors ("decoders").
template <class Make>
auto sequence_steps(const JsonObject& obj, const std::string& key, const std::string& file, const std::string& path,
                    const char* what, Make make) {
  if (!obj.has(key) || !obj.json().at(key).is_array()) fail(obj.where(key), ": expected a list of ", what);
  std::vector<decltype(make(obj.json(), file, path))> steps;
  const Json& list = obj.json().at(key);
  const std::string base = path.empty() ? key : path + "." + key;
  for (size_t i = 0; i < list.size(); ++i) steps.push_back(make(list[i], file, index_path(base, i)));
  return steps;
}

// Reads a single character option (Metaspace.replacement, Strip.content): a string holding exactly one code point.
inline char32_t single_char_option(const JsonObject& obj, const std::string& key) {
  const std::string s = obj.get<std::string>(key);
  size_t len = 0;
  if (s.empty() || (unicode::decode_at(s, 0, &len), len != s.size()))
    fail(obj.where(key), ": expected exactly one character, got ", quote(s));
  return unicode::decode_at(s, 0, &len);
}

// A {"String": s} or {"Regex": r} pattern object at `owner.key` (Split, Replace), compiled once.
std::shared_ptr<const Regex> make_pattern(const JsonObject& owner, const std::string& key);

}  // namespace vlm::text
