#include "text/chat_template.h"

#include <dirent.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

namespace vlm::text {

namespace {

constexpr size_t kMaxTemplateFile = size_t{16} << 20;

// A "chat_template" value: a string, a {name: template} dict, or a [{name, template}] list.
void add_templates(std::map<std::string, ChatTemplateText>& out, const Json& value,
                   const std::string& origin) {
  if (value.is_string()) {
    out["default"] = {value.get<std::string>(), origin};
    return;
  }
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      VLM_CHECK(it.value().is_string(), origin, ": chat_template.", it.key(), ": expected a string, got ",
                json_type_name(it.value()));
      out[it.key()] = {it.value().get<std::string>(), origin};
    }
    return;
  }
  VLM_CHECK(value.is_array(), origin,
            ": chat_template: expected a string or a list of {name, template}, got ", json_type_name(value));
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& entry = value[i];
    VLM_CHECK(entry.is_object() && entry.contains("name") && entry.contains("template") &&
                  entry["name"].is_string() && entry["template"].is_string(),
              origin, ": chat_template[", i, "]: expected {\"name\": string, \"template\": string}");
    out[entry["name"].get<std::string>()] = {entry["template"].get<std::string>(), origin};
  }
}

std::vector<std::string> jinja_files(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".jinja") == 0) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::map<std::string, ChatTemplateText> find_chat_templates(const std::string& model_dir) {
  std::map<std::string, ChatTemplateText> out;
  // 1. processor_config.json
  const std::string processor_config = path_join(model_dir, "processor_config.json");
  if (path_exists(processor_config)) {
    const Json j = read_json_file(processor_config);
    if (j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null()) {
      add_templates(out, j["chat_template"], processor_config);
      return out;
    }
  }
  const std::string additional_dir = path_join(model_dir, "additional_chat_templates");
  const std::vector<std::string> additional = jinja_files(additional_dir);
  // 2. chat_template.json (legacy processor file)
  const std::string legacy = path_join(model_dir, "chat_template.json");
  if (path_exists(legacy)) {
    VLM_CHECK(additional.empty(), legacy, ": cannot combine a legacy chat_template.json with ",
              additional_dir, "/ (replace chat_template.json by chat_template.jinja)");
    const Json j = read_json_file(legacy);
    VLM_CHECK(j.is_object() && j.contains("chat_template"), legacy,
              ": expected an object with \"chat_template\"");
    add_templates(out, j["chat_template"], legacy);
    return out;
  }
  // 3. chat_template.jinja and additional_chat_templates/*.jinja
  for (const auto& file : additional) {
    const std::string path = path_join(additional_dir, file);
    out[file.substr(0, file.size() - 6)] = {read_file(path, kMaxTemplateFile), path};
  }
  const std::string raw = path_join(model_dir, "chat_template.jinja");
  if (path_exists(raw)) out["default"] = {read_file(raw, kMaxTemplateFile), raw};
  if (!out.empty()) return out;
  // 4. tokenizer_config.json
  const std::string tokenizer_config = path_join(model_dir, "tokenizer_config.json");
  if (path_exists(tokenizer_config)) {
    const Json j = read_json_file(tokenizer_config);
    if (j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null())
      add_templates(out, j["chat_template"], tokenizer_config);
  }
  return out;
}

ChatTemplate ChatTemplate::load(const std::string& model_dir, const std::string& name, JinjaLimits limits) {
  VLM_CHECK(is_directory(model_dir), model_dir, ": not a folder");
  const auto templates = find_chat_templates(model_dir);
  VLM_CHECK(!templates.empty(), model_dir, ": no chat template (looked for processor_config.json, ",
            "chat_template.json, chat_template.jinja and tokenizer_config.json)");
  const std::string wanted = name.empty() ? "default" : name;
  auto it = templates.find(wanted);
  if (it == templates.end()) {
    std::string names;
    for (const auto& [n, unused] : templates) names += (names.empty() ? "" : ", ") + n;
    fail(model_dir, ": no chat template named ", quote(wanted), " (available: ", names, ")");
  }
  return from_string(it->second.source, it->second.origin, limits);
}

ChatTemplate ChatTemplate::from_string(std::string_view source, std::string origin, JinjaLimits limits) {
  return ChatTemplate(std::string(source), JinjaTemplate::parse(source, std::move(origin), limits));
}

RenderOutput ChatTemplate::render(const ChatRenderRequest& request) const {
  VLM_CHECK(request.messages.is_array(), origin(), ": messages must be a list, got ",
            request.messages.type_name());
  VLM_CHECK(request.variables.is_object(), origin(), ": extra variables must be an object");
  JinjaContext context;
  context.set("messages", request.messages, true);
  context.set("tools", request.tools, true);
  context.set("documents", request.documents, true);
  context.set_bool("add_generation_prompt", request.add_generation_prompt);
  for (auto it = request.variables.begin(); it != request.variables.end(); ++it) {
    const std::string& key = it.key();
    VLM_CHECK(key != "messages" && key != "tools" && key != "documents" && key != "add_generation_prompt",
              origin(), ": extra variable ", quote(key), " would replace a chat template argument");
    context.set(key, it.value(), false);
  }
  if (request.now) context.set_now(*request.now);
  return template_.render(context);
}

}  // namespace vlm::text
