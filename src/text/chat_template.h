// Chat templates of a model folder, rendered like transformers' apply_chat_template(tokenize=False).
//
// Where the template comes from (transformers 5: the processor's template wins; the first source that has
// one is used):
//   1. processor_config.json   "chat_template" (a string, or a dict / list of {name, template})
//   2. chat_template.json      {"chat_template": "..."}   (legacy processor file; an error together with
//                              additional_chat_templates/, as in transformers)
//   3. chat_template.jinja     the default template, plus additional_chat_templates/<name>.jinja
//   4. tokenizer_config.json   "chat_template": a string, or a list of {"name": ..., "template": ...}
// A folder with several templates uses "default" unless a name is asked for.
//
// Rendering passes the variables transformers passes: messages, tools (None unless given), documents
// (None unless given), add_generation_prompt, and the caller's extra variables (bos_token, eos_token,
// add_vision_id, ...). Strings inside messages, tools and documents are tracked as content (see jinja.h);
// extra variables are markup.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "text/jinja.h"

namespace vlm::text {

struct ChatRenderRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  bool add_generation_prompt = false;
  nlohmann::ordered_json tools;      // null: the template sees tools = None
  nlohmann::ordered_json documents;  // null: documents = None
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();  // extra markup variables
  std::optional<std::time_t> now;  // the clock of strftime_now (default: now)
};

struct ChatTemplateText {
  std::string source;  // the template text
  std::string origin;  // where it was read, e.g. "<dir>/chat_template.jinja"
};

// All templates of a model folder by name ("default" for the unnamed one), from the first source in the
// order above that has any. Empty when the folder has none. Malformed files are errors naming the file.
std::map<std::string, ChatTemplateText> find_chat_templates(const std::string& model_dir);

class ChatTemplate {
 public:
  // The folder's template named `name` ("" = "default"). Errors name the folder and the templates found.
  static ChatTemplate load(const std::string& model_dir, const std::string& name = "",
                           JinjaLimits limits = {});
  static ChatTemplate from_string(std::string_view source, std::string origin = "chat template",
                                  JinjaLimits limits = {});

  RenderOutput render(const ChatRenderRequest& request) const;
  const std::string& source() const { return source_; }
  const std::string& origin() const { return template_.origin(); }

 private:
  ChatTemplate(std::string source, JinjaTemplate t) : source_(std::move(source)), template_(std::move(t)) {}
  std::string source_;
  JinjaTemplate template_;
};

}  // namespace vlm::text
