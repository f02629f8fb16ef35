// One JSONL line -> DatasetSample: the four accepted forms (dataset.h) normalised to chat-format messages,
// with every field checked and every error naming "<file>:<line>: <field>".
#include <sys/stat.h>

#include "core/error.h"
#include "core/file.h"
#include "train/dataset.h"

namespace vlm::train {

namespace {

// Where a sample's image parts and paths were found, to check them against each other at the end.
struct ImageRefs {
  size_t parts = 0;                        // {"type": "image"} parts in all messages
  std::vector<std::string> inline_paths;   // "image" fields of those parts, in order
  std::vector<std::string> inline_fields;  // their field paths, for messages
  std::string first_part_without_path;     // field of the first image part with no inline path
};

std::string indexed(const std::string& base, size_t i) {
  return str(base, "[", i, "]");
}
std::string dotted(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

// A key that is there and not null (null means absent, as in rows exported from HF datasets).
bool present(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

template <typename... Args>
[[noreturn]] void fail_at(const std::string& origin, const std::string& field, const Args&... args) {
  fail(origin, ": ", field, ": ", args...);
}

const std::string& expect_string(const Json& object, const char* key, const std::string& origin,
                                 const std::string& base) {
  if (!present(object, key)) fail_at(origin, dotted(base, key), "required field is missing");
  const Json& v = object.at(key);
  if (!v.is_string()) fail_at(origin, dotted(base, key), "expected a string, got ", json_type_name(v));
  return v.get_ref<const std::string&>();
}

Json text_part(const std::string& text) {
  return Json{{"type", "text"}, {"text", text}};
}
Json image_part() {
  return Json{{"type", "image"}};
}

Json normalise_part(const Json& part, const std::string& origin, const std::string& field, ImageRefs& refs) {
  if (!part.is_object()) fail_at(origin, field, "expected an object, got ", json_type_name(part));
  const std::string& type = expect_string(part, "type", origin, field);
  if (type == "text") return text_part(expect_string(part, "text", origin, field));
  if (type == "image") {
    ++refs.parts;
    if (present(part, "image")) {
      refs.inline_paths.push_back(expect_string(part, "image", origin, field));
      refs.inline_fields.push_back(dotted(field, "image"));
    } else {
      for (const char* other : {"url", "path", "base64"})
        if (present(part, other))
          fail_at(origin, dotted(field, other),
                  "not supported; give the image file's path in the part's \"image\" ",
                  "field or in the sample's \"images\" list");
      if (refs.first_part_without_path.empty()) refs.first_part_without_path = field;
    }
    return image_part();
  }
  if (type == "image_url")
    fail_at(origin, dotted(field, "type"),
            "\"image_url\" is not supported; use {\"type\": \"image\"} with the path ",
            "in the sample's \"images\" list (or in the part's \"image\" field)");
  fail_at(origin, dotted(field, "type"), "expected \"text\" or \"image\", got ", quote(type));
}

Json normalise_content(const Json& content, const std::string& origin, const std::string& field,
                       ImageRefs& refs) {
  if (content.is_string()) return Json::array({text_part(content.get<std::string>())});
  if (!content.is_array())
    fail_at(origin, field, "expected a string or a list of parts, got ", json_type_name(content));
  Json parts = Json::array();
  for (size_t i = 0; i < content.size(); ++i)
    parts.push_back(normalise_part(content[i], origin, indexed(field, i), refs));
  return parts;
}

Json normalise_message(const Json& message, const std::string& origin, const std::string& field,
                       ImageRefs& refs) {
  if (!message.is_object()) fail_at(origin, field, "expected an object, got ", json_type_name(message));
  const std::string& role = expect_string(message, "role", origin, field);
  if (role != "user" && role != "assistant" && role != "system")
    fail_at(origin, dotted(field, "role"), "expected \"system\", \"user\" or \"assistant\", got ",
            quote(role));
  if (!present(message, "content")) fail_at(origin, dotted(field, "content"), "required field is missing");
  return Json{{"role", role},
              {"content", normalise_content(message.at("content"), origin, dotted(field, "content"), refs)}};
}

// The sample-level image list: "images": [paths] or "image": path (not both). Returns the field name used
// too.
std::vector<std::string> top_level_images(const Json& root, const std::string& origin, std::string& field) {
  const bool one = present(root, "image"), many = present(root, "images");
  if (one && many) fail_at(origin, "image", "give either \"image\" or \"images\", not both");
  std::vector<std::string> paths;
  if (one) {
    field = "image";
    paths.push_back(expect_string(root, "image", origin, ""));
  } else if (many) {
    field = "images";
    const Json& list = root.at("images");
    if (!list.is_array()) fail_at(origin, "images", "expected a list of paths, got ", json_type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string())
        fail_at(origin, indexed("images", i), "expected a string (a path), got ", json_type_name(list[i]));
      paths.push_back(list[i].get<std::string>());
    }
  }
  return paths;
}

// A path relative to the JSONL file's folder (absolute paths are kept) that must name an existing file.
std::string resolve_image(const std::string& path, const std::string& base_dir, const std::string& origin,
                          const std::string& field) {
  if (path.empty()) fail_at(origin, field, "empty image path");
  for (const char* scheme : {"http://", "https://", "data:"})
    if (path.rfind(scheme, 0) == 0)
      fail_at(origin, field, "expected the path of an image file, got a URL (", quote(path, 40),
              "); save the image to a file and give its path");
  const std::string resolved =
      (path[0] == '/' || base_dir.empty() || base_dir == ".") ? path : path_join(base_dir, path);
  struct stat st {};
  if (::stat(resolved.c_str(), &st) != 0)
    fail_at(origin, field, "image file not found: ", quote(resolved, 300));
  if (S_ISDIR(st.st_mode))
    fail_at(origin, field, "is a folder, expected an image file: ", quote(resolved, 300));
  return resolved;
}

// Checks the parts against the paths and resolves them into sample.images.
void attach_images(DatasetSample& sample, const ImageRefs& refs, const std::vector<std::string>& listed,
                   const std::string& listed_field, const std::string& origin, const std::string& base_dir) {
  if (!refs.inline_paths.empty()) {
    if (!listed.empty())
      fail_at(origin, refs.inline_fields[0], "inline image paths and a top-level \"", listed_field,
              "\" list in one sample; use one of them");
    if (!refs.first_part_without_path.empty())
      fail_at(origin, refs.first_part_without_path,
              "this image part has no \"image\" path while other image ",
              "parts of the sample have one; give every part its path, or list them all in \"images\"");
    for (size_t i = 0; i < refs.inline_paths.size(); ++i)
      sample.images.push_back(resolve_image(refs.inline_paths[i], base_dir, origin, refs.inline_fields[i]));
    return;
  }
  if (listed.size() != refs.parts)
    fail_at(origin, listed_field.empty() ? "images" : listed_field, listed.size(), " image path(s) for ",
            refs.parts,
            " {\"type\": \"image\"} part(s) in the messages; each image part takes the next path in order");
  for (size_t i = 0; i < listed.size(); ++i)
    sample.images.push_back(resolve_image(
        listed[i], base_dir, origin, listed_field == "image" ? std::string("image") : indexed("images", i)));
}

void check_has_assistant_turn(const Json& messages, const std::string& origin) {
  for (const Json& m : messages)
    if (m.at("role") == "assistant") return;
  fail_at(origin, "messages", "no \"assistant\" turn: a training sample needs an answer to learn from");
}

DatasetSample from_messages(const Json& root, const std::string& origin, const std::string& base_dir) {
  const Json& list = root.at("messages");
  if (!list.is_array())
    fail_at(origin, "messages", "expected a list of messages, got ", json_type_name(list));
  if (list.empty()) fail_at(origin, "messages", "empty list: a sample needs at least one turn");
  DatasetSample sample;
  sample.origin = origin;
  sample.messages = Json::array();
  ImageRefs refs;
  for (size_t i = 0; i < list.size(); ++i)
    sample.messages.push_back(normalise_message(list[i], origin, indexed("messages", i), refs));
  check_has_assistant_turn(sample.messages, origin);
  std::string listed_field;
  const std::vector<std::string> listed = top_level_images(root, origin, listed_field);
  attach_images(sample, refs, listed, listed_field, origin, base_dir);
  return sample;
}

DatasetSample from_shorthand(const Json& root, const std::string& origin, const std::string& base_dir) {
  const std::string& question = expect_string(root, "question", origin, "");
  const std::string& answer = expect_string(root, "answer", origin, "");
  std::string listed_field;
  const std::vector<std::string> listed = top_level_images(root, origin, listed_field);
  DatasetSample sample;
  sample.origin = origin;
  sample.messages = Json::array();
  if (present(root, "system"))
    sample.messages.push_back(
        Json{{"role", "system"},
             {"content", Json::array({text_part(expect_string(root, "system", origin, ""))})}});
  Json user = Json::array();
  for (size_t i = 0; i < listed.size(); ++i) user.push_back(image_part());
  user.push_back(text_part(question));
  sample.messages.push_back(Json{{"role", "user"}, {"content", user}});
  sample.messages.push_back(Json{{"role", "assistant"}, {"content", Json::array({text_part(answer)})}});
  ImageRefs refs;
  refs.parts = listed.size();
  attach_images(sample, refs, listed, listed_field, origin, base_dir);
  return sample;
}

}  // namespace

DatasetSample parse_dataset_line(const std::string& line, const std::string& origin,
                                 const std::string& base_dir) {
  Json root;
  try {
    root = Json::parse(line);
  } catch (const Json::parse_error& e) {
    // nlohmann reads "[json.exception.parse_error.101] parse error at line 1, column 5: <what>"; keep <what>.
    const std::string what = e.what();
    const size_t colon = what.find(": ", what.find("parse error"));
    fail(origin, ": invalid JSON at column ", e.byte, ": ",
         colon == std::string::npos ? what : what.substr(colon + 2));
  } catch (const Json::exception& e) {
    const std::string what = e.what();
    const size_t pos = what.find("] ");
    fail(origin, ": invalid JSON: ", pos == std::string::npos ? what : what.substr(pos + 2));
  }
  if (!root.is_object()) fail(origin, ": expected a JSON object on each line, got ", json_type_name(root));
  const bool has_messages = present(root, "messages");
  const bool has_qa = present(root, "question") || present(root, "answer");
  if (has_messages && has_qa)
    fail_at(origin, "messages", "a sample has either \"messages\" or \"question\"/\"answer\", not both");
  if (has_messages) return from_messages(root, origin, base_dir);
  if (has_qa) return from_shorthand(root, origin, base_dir);
  fail(origin, ": expected a \"messages\" list or \"question\" and \"answer\" fields");
}

}  // namespace vlm::train
