// vlm tokenize / vlm template: the tokenizer and the chat template of a model folder, from the command line.
//   vlm tokenize --model DIR < text         token ids, space-separated on one line (special-token strings in the
//                                            text are matched, as transformers' default; no special tokens added)
//   vlm tokenize --model DIR --tokens       the token strings instead
//   vlm tokenize --model DIR --decode < ids text of whitespace-separated ids
//   vlm template --model DIR --messages FILE.json [--add-generation-prompt]
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "apps/vlm/commands.h"
#include "core/error.h"
#include "core/json.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace vlm::cli {
namespace {

std::string read_stdin() {
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

struct TokenizeArgs {
  std::string model;
  bool tokens = false, decode = false, skip_special = false;
};

void run_tokenize(const TokenizeArgs& a) {
  const text::Tokenizer tok = text::Tokenizer::load(a.model);
  const std::string input = read_stdin();
  if (a.decode) {
    std::vector<int32_t> ids;
    std::istringstream in(input);
    std::string word;
    while (in >> word) {
      char* end = nullptr;
      const long long v = std::strtoll(word.c_str(), &end, 10);
      if (!end || *end || v < 0 || v > INT32_MAX) fail("stdin: ", quote(word), " is not a token id");
      ids.push_back(static_cast<int32_t>(v));
    }
    std::printf("%s\n", tok.decode(ids, a.skip_special).c_str());
    return;
  }
  const std::vector<int32_t> ids = tok.encode(input, /*parse_special=*/true, /*add_special_tokens=*/false);
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += a.tokens ? tok.id_to_token(ids[i]).value_or("<unknown>") : std::to_string(ids[i]);
  }
  std::printf("%s\n", out.c_str());
}

struct TemplateArgs {
  std::string model, messages, name;
  bool add_generation_prompt = false;
};

void run_template(const TemplateArgs& a) {
  const text::ChatTemplate t = text::ChatTemplate::load(a.model, a.name);
  const Json file = read_json_file(a.messages);
  text::ChatRenderRequest req;
  // Either a list of messages or {"messages": [...], "tools": ..., other variables}.
  if (file.is_array()) {
    req.messages = nlohmann::ordered_json::parse(file.dump());
  } else if (file.is_object() && file.contains("messages")) {
    req.messages = nlohmann::ordered_json::parse(file.at("messages").dump());
    if (file.contains("tools")) req.tools = nlohmann::ordered_json::parse(file.at("tools").dump());
  } else {
    fail(a.messages, ": expected a list of messages or an object with \"messages\"");
  }
  req.add_generation_prompt = a.add_generation_prompt;
  const text::Tokenizer tok = text::Tokenizer::load(a.model);
  if (auto s = tok.bos_token()) req.variables["bos_token"] = *s;
  if (auto s = tok.eos_token()) req.variables["eos_token"] = *s;
  const auto out = t.render(req);
  std::fwrite(out.text.data(), 1, out.text.size(), stdout);
}

}  // namespace

Command add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Token ids of text on stdin (or --decode ids to text)");
  auto a = std::make_shared<TokenizeArgs>();
  cmd->add_option("--model", a->model, "Model folder with tokenizer.json or tokenizer.model")->required();
  cmd->add_flag("--tokens", a->tokens, "Print token strings instead of ids");
  cmd->add_flag("--decode", a->decode, "Read ids from stdin and print their text");
  cmd->add_flag("--skip-special-tokens", a->skip_special, "With --decode, drop special tokens");
  return {cmd, [a] { run_tokenize(*a); }};
}

Command add_template(CLI::App& app) {
  auto* cmd = app.add_subcommand("template", "Render the model's chat template for a list of messages");
  auto a = std::make_shared<TemplateArgs>();
  cmd->add_option("--model", a->model, "Model folder")->required();
  cmd->add_option("--messages", a->messages, "JSON file: a list of messages")->required();
  cmd->add_option("--name", a->name, "Named template (default: \"default\")");
  cmd->add_flag("--add-generation-prompt", a->add_generation_prompt, "Append the assistant turn's opening");
  return {cmd, [a] { run_template(*a); }};
}

}  // namespace vlm::cli
