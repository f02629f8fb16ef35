// JSON files with errors that name the file, the line and column of a syntax error, and the dotted path of a
// missing or ill-typed field ("config.json: text_config.hidden_size: expected an integer, got a string").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vlm {

using Json = nlohmann::json;

// Parses text; a syntax error names `origin` and the line and column.
Json parse_json(const std::string& text, const std::string& origin);
// Reads and parses a file (at most 64 MiB).
Json read_json_file(const std::string& path);

// "an integer", "a string", ... for messages.
std::string json_type_name(const Json& j);

// A typed, read-only view of one JSON object inside a file.
class JsonObject {
 public:
  // `file` names the file in messages; `path` is the dotted path of this object inside it ("" for the root).
  JsonObject(const Json& j, std::string file, std::string path = "");

  // True if the key is present and not null (null means "use the default", as in transformers).
  bool has(const std::string& key) const;
  // The first of `keys` that is present, or "".
  std::string first_present(std::initializer_list<const char*> keys) const;

  template <typename T>
  T get(const std::string& key) const;  // required
  template <typename T>
  T get(const std::string& key, const T& fallback) const;  // optional
  template <typename T>
  std::optional<T> maybe(const std::string& key) const;

  JsonObject object(const std::string& key) const;  // a required nested object
  std::optional<JsonObject> maybe_object(const std::string& key) const;

  const Json& json() const { return *j_; }
  const std::string& file() const { return file_; }
  // "file: path.key" for messages.
  std::string where(const std::string& key) const;

 private:
  template <typename T>
  T convert(const Json& v, const std::string& key) const;

  const Json* j_;
  std::string file_, path_;
};

// Supported T: bool, int, int64_t, double, std::string, std::vector<int64_t>, std::vector<int>,
// std::vector<double>, std::vector<std::string>.

}  // namespace vlm
