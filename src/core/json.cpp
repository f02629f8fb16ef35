#include "core/json.h"

#include "core/error.h"
#include "core/file.h"

namespace vlm {

Json parse_json(const std::string& text, const std::string& origin) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // Turn the byte offset into a line and column.
    size_t line = 1, col = 1;
    const size_t end = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    // nlohmann's messages read "[json.exception.parse_error.101] parse error at line 1, column 2: ..."; keep the
    // part after the location.
    const size_t colon = what.find(": ", what.find("parse error"));
    fail(origin, ":", line, ":", col, ": invalid JSON: ",
         colon == std::string::npos ? what : what.substr(colon + 2));
  } catch (const Json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold (e.g. a number beyond double range: 1e400).
    const std::string what = e.what();
    const size_t pos = what.find("] ");
    fail(origin, ": invalid JSON: ", pos == std::string::npos ? what : what.substr(pos + 2));
  }
}

Json read_json_file(const std::string& path) {
  return parse_json(read_file(path, 64u << 20), path);
}

std::string json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

JsonObject::JsonObject(const Json& j, std::string file, std::string path)
    : j_(&j), file_(std::move(file)), path_(std::move(path)) {
  if (!j.is_object())
    fail(file_, ": ", path_.empty() ? "the top level" : path_, ": expected an object, got ", json_type_name(j));
}

bool JsonObject::has(const std::string& key) const {
  auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

std::string JsonObject::first_present(std::initializer_list<const char*> keys) const {
  for (const char* k : keys)
    if (has(k)) return k;
  return "";
}

std::string JsonObject::where(const std::string& key) const {
  return file_ + ": " + (path_.empty() ? key : path_ + "." + key);
}

namespace {

template <typename T>
struct Expect;
template <>
struct Expect<bool> {
  static constexpr const char* name = "a boolean";
  static bool ok(const Json& v) { return v.is_boolean(); }
};
template <>
struct Expect<int64_t> {
  static constexpr const char* name = "an integer";
  static bool ok(const Json& v) {
    return v.is_number_integer() && (!v.is_number_unsigned() || v.get<uint64_t>() <= INT64_MAX);
  }
};
template <>
struct Expect<int> {
  static constexpr const char* name = "an integer (32-bit)";
  static bool ok(const Json& v) {
    if (!Expect<int64_t>::ok(v)) return false;
    const int64_t x = v.get<int64_t>();
    return x >= INT32_MIN && x <= INT32_MAX;
  }
};
template <>
struct Expect<double> {
  static constexpr const char* name = "a number";
  static bool ok(const Json& v) { return v.is_number(); }
};
template <>
struct Expect<std::string> {
  static constexpr const char* name = "a string";
  static bool ok(const Json& v) { return v.is_string(); }
};

}  // namespace

template <typename T>
T JsonObject::convert(const Json& v, const std::string& key) const {
  if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<int>> ||
                std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::string>>) {
    using E = typename T::value_type;
    if (!v.is_array()) fail(where(key), ": expected a list of ", Expect<E>::name, "s, got ", json_type_name(v));
    T out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!Expect<E>::ok(v[i]))
        fail(where(key), "[", i, "]: expected ", Expect<E>::name, ", got ", json_type_name(v[i]));
      out.push_back(v[i].template get<E>());
    }
    return out;
  } else {
    if (!Expect<T>::ok(v)) fail(where(key), ": expected ", Expect<T>::name, ", got ", json_type_name(v));
    return v.template get<T>();
  }
}

template <typename T>
T JsonObject::get(const std::string& key) const {
  if (!has(key)) fail(where(key), ": required field is missing");
  return convert<T>(j_->at(key), key);
}

template <typename T>
T JsonObject::get(const std::string& key, const T& fallback) const {
  return has(key) ? convert<T>(j_->at(key), key) : fallback;
}

template <typename T>
std::optional<T> JsonObject::maybe(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return convert<T>(j_->at(key), key);
}

JsonObject JsonObject::object(const std::string& key) const {
  if (!has(key)) fail(where(key), ": required field is missing");
  const Json& v = j_->at(key);
  if (!v.is_object()) fail(where(key), ": expected an object, got ", json_type_name(v));
  return JsonObject(v, file_, path_.empty() ? key : path_ + "." + key);
}

std::optional<JsonObject> JsonObject::maybe_object(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return object(key);
}

#define VLM_JSON_INSTANTIATE(T)                                          \
  template T JsonObject::get<T>(const std::string&) const;               \
  template T JsonObject::get<T>(const std::string&, const T&) const;     \
  template std::optional<T> JsonObject::maybe<T>(const std::string&) const;
VLM_JSON_INSTANTIATE(bool)
VLM_JSON_INSTANTIATE(int)
VLM_JSON_INSTANTIATE(int64_t)
VLM_JSON_INSTANTIATE(double)
VLM_JSON_INSTANTIATE(std::string)
VLM_JSON_INSTANTIATE(std::vector<int64_t>)
VLM_JSON_INSTANTIATE(std::vector<int>)
VLM_JSON_INSTANTIATE(std::vector<double>)
VLM_JSON_INSTANTIATE(std::vector<std::string>)
#undef VLM_JSON_INSTANTIATE

}  // namespace vlm
