// JSON in and out of the interpreter.
//   value_from_json  JSON -> values (objects keep key order; strings optionally tracked as content).
//   json_dumps       Python's json.dumps as transformers' tojson filter calls it: ensure_ascii=False by
//                    default, keys in insertion order, indent (int or str) and separators as Python's
//                    encoder applies them, floats as repr(), NaN/Infinity allowed. The escaped form of a
//                    content string stays content.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

Value value_from_json(const nlohmann::ordered_json& j, bool content);
Value value_from_json(const nlohmann::json& j, bool content);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // nullopt: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};

TrackedString json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace vlm::text::jinja
