// Where a model folder's chat template comes from (transformers 5's precedence: processor_config.json,
// chat_template.json, chat_template.jinja + additional_chat_templates/, tokenizer_config.json), named
// templates, and the errors for folders without one or with malformed files. Also renders a recorded real
// template loaded from a folder against its transformers golden.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>

#include "core/file.h"
#include "text/chat_template.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

using OJson = nlohmann::ordered_json;

class ChatTemplateLoading : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::temp_dir("chat-template"); }
  void TearDown() override { test::remove_tree(dir_); }

  void write(const std::string& name, const std::string& text) {
    if (name.find('/') != std::string::npos) ::mkdir(path_join(dir_, path_parent(name)).c_str(), 0755);
    test::write_bytes(path_join(dir_, name), text);
  }
  // The text of the template the folder yields, rendered with no messages.
  std::string rendered(const std::string& name = "") {
    return ChatTemplate::load(dir_, name).render(ChatRenderRequest()).text;
  }
  std::string error_of(const std::string& name = "") {
    try {
      ChatTemplate::load(dir_, name);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }

  std::string dir_;
};

TEST_F(ChatTemplateLoading, TokenizerConfigString) {
  write("tokenizer_config.json", R"({"chat_template": "from tokenizer_config", "eos_token": "</s>"})");
  EXPECT_EQ(rendered(), "from tokenizer_config");
  EXPECT_NE(ChatTemplate::load(dir_).origin().find("tokenizer_config.json"), std::string::npos);
}

TEST_F(ChatTemplateLoading, TokenizerConfigNamedList) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "default", "template": "D"},
                                                      {"name": "tool_use", "template": "T"}]})");
  EXPECT_EQ(rendered(), "D");
  EXPECT_EQ(rendered("tool_use"), "T");
  const std::string e = error_of("rag");
  EXPECT_NE(e.find("no chat template named \"rag\""), std::string::npos) << e;
  EXPECT_NE(e.find("default, tool_use"), std::string::npos) << e;
}

TEST_F(ChatTemplateLoading, ListWithoutDefaultNeedsAName) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "a", "template": "A"}]})");
  EXPECT_NE(error_of().find("available: a"), std::string::npos);
  EXPECT_EQ(rendered("a"), "A");
}

TEST_F(ChatTemplateLoading, JinjaFileBeatsTokenizerConfig) {
  write("tokenizer_config.json", R"({"chat_template": "inline"})");
  write("chat_template.jinja", "from jinja file\n");
  EXPECT_EQ(rendered(), "from jinja file");  // one trailing newline is dropped, as jinja2 does
}

TEST_F(ChatTemplateLoading, AdditionalTemplatesAreNamed) {
  write("chat_template.jinja", "default");
  write("additional_chat_templates/tool_use.jinja", "tools");
  EXPECT_EQ(rendered(), "default");
  EXPECT_EQ(rendered("tool_use"), "tools");
  const auto all = find_chat_templates(dir_);
  EXPECT_EQ(all.size(), 2u);
}

TEST_F(ChatTemplateLoading, LegacyJsonBeatsJinjaFile) {
  write("chat_template.jinja", "jinja");
  write("chat_template.json", R"({"chat_template": "legacy json"})");
  EXPECT_EQ(rendered(), "legacy json");
}

TEST_F(ChatTemplateLoading, LegacyJsonWithAdditionalTemplatesIsAnError) {
  write("chat_template.json", R"({"chat_template": "legacy json"})");
  write("additional_chat_templates/x.jinja", "x");
  EXPECT_NE(error_of().find("chat_template.json"), std::string::npos);
}

TEST_F(ChatTemplateLoading, ProcessorConfigBeatsEverything) {
  write("processor_config.json", R"({"chat_template": "processor", "image_seq_len": 2})");
  write("chat_template.json", R"({"chat_template": "legacy json"})");
  write("tokenizer_config.json", R"({"chat_template": "inline"})");
  EXPECT_EQ(rendered(), "processor");
}

TEST_F(ChatTemplateLoading, ProcessorConfigWithoutTemplateIsSkipped) {
  write("processor_config.json", R"({"image_seq_len": 2, "chat_template": null})");
  write("tokenizer_config.json", R"({"chat_template": "inline"})");
  EXPECT_EQ(rendered(), "inline");
}

TEST_F(ChatTemplateLoading, NoTemplate) {
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  const std::string e = error_of();
  EXPECT_NE(e.find("no chat template"), std::string::npos) << e;
  EXPECT_NE(e.find(dir_), std::string::npos) << e;
}

TEST_F(ChatTemplateLoading, MalformedFilesNameTheFile) {
  write("tokenizer_config.json", R"({"chat_template": 42})");
  EXPECT_NE(error_of().find("tokenizer_config.json"), std::string::npos);
  write("chat_template.json", "{not json");
  EXPECT_NE(error_of().find("chat_template.json"), std::string::npos);
}

TEST_F(ChatTemplateLoading, NotAFolder) {
  try {
    ChatTemplate::load(path_join(dir_, "missing"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a folder"), std::string::npos);
  }
}

TEST_F(ChatTemplateLoading, SyntaxErrorsNameTheFile) {
  write("chat_template.jinja", "ok\n{% if %}");
  try {
    ChatTemplate::load(dir_);
    FAIL();
  } catch (const JinjaError& e) {
    EXPECT_NE(std::string(e.what()).find("chat_template.jinja:2:"), std::string::npos) << e.what();
  }
}

TEST_F(ChatTemplateLoading, ExtraVariablesCannotReplaceArguments) {
  write("chat_template.jinja", "{{ messages|length }}");
  ChatRenderRequest r;
  r.variables = OJson::parse(R"({"messages": []})");
  EXPECT_THROW(ChatTemplate::load(dir_).render(r), Error);
}

// A real template loaded from a model folder renders as transformers does.
TEST_F(ChatTemplateLoading, RealTemplateFromFolderMatchesGolden) {
  const std::string jinja = test::fixture("templates/gemma3.jinja");
  const std::string golden = test::fixture("templates/gemma3.json");
  if (!path_exists(golden)) GTEST_SKIP() << "missing fixture " << golden;
  write("chat_template.json", OJson{{"chat_template", read_file(jinja, 1 << 20)}}.dump());
  const ChatTemplate t = ChatTemplate::load(dir_);
  const OJson cases = OJson::parse(read_file(golden, 64 << 20)).at("cases");
  for (const auto& c : cases) {
    if (c.contains("error")) continue;
    ChatRenderRequest r;
    r.messages = c.at("messages");
    r.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    r.variables = c.at("variables");
    EXPECT_EQ(t.render(r).text, c.at("expected").get<std::string>()) << c.at("name");
  }
}

}  // namespace
}  // namespace vlm::text
