// The recorded real chat templates (Qwen2-VL, Qwen2.5-VL, LLaVA-1.5, Idefics3, SmolVLM, Gemma 3) rendered on
// the conversations of tests/fixtures/templates/<model>.json must match transformers byte for byte, with
// the same {% generation %} spans (LLaVA marks assistant text) and the same raise_exception errors
// (Gemma 3 refuses roles that do not alternate). Message text printed verbatim must lie in content spans.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/file.h"
#include "text/chat_template.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

using OJson = nlohmann::ordered_json;

const char* const kModels[] = {"qwen2_vl", "qwen2_5_vl", "llava_1_5", "idefics3", "smolvlm", "gemma3"};

struct Golden {
  ChatTemplate tmpl;
  OJson cases;
};

// Loads <model>.jinja and <model>.json; nullopt with *missing naming the absent file.
std::optional<Golden> load_golden(const std::string& model, std::string* missing) {
  const std::string jinja_path = test::fixture("templates/" + model + ".jinja");
  const std::string json_path = test::fixture("templates/" + model + ".json");
  for (const auto& p : {jinja_path, json_path}) {
    if (!path_exists(p)) {
      *missing = "missing fixture " + p + " (run scripts/fixtures/make_template_fixtures.py)";
      return std::nullopt;
    }
  }
  return Golden{ChatTemplate::from_string(read_file(jinja_path, 1 << 20), jinja_path),
                OJson::parse(read_file(json_path, 64 << 20)).at("cases")};
}

ChatRenderRequest request_for(const OJson& c) {
  ChatRenderRequest r;
  r.messages = c.at("messages");
  r.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
  r.variables = c.at("variables");
  return r;
}

std::vector<ByteSpan> spans_of(const OJson& j) {
  std::vector<ByteSpan> out;
  for (const auto& s : j) out.push_back({s[0].get<size_t>(), s[1].get<size_t>()});
  return out;
}

bool covered(const std::vector<ByteSpan>& spans, size_t begin, size_t end) {
  return std::any_of(spans.begin(), spans.end(),
                     [&](const ByteSpan& s) { return s.begin <= begin && end <= s.end; });
}

// Each non-empty text part of the messages that appears in the output must be content where it appears.
void expect_texts_are_content(const OJson& messages, const RenderOutput& out, const std::string& where) {
  for (const auto& m : messages) {
    std::vector<std::string> texts;
    const OJson& content = m.at("content");
    if (content.is_string()) texts.push_back(content.get<std::string>());
    if (content.is_array())
      for (const auto& part : content)
        if (part.contains("text")) texts.push_back(part.at("text").get<std::string>());
    for (const auto& t : texts) {
      if (t.size() < 3) continue;
      for (size_t at = out.text.find(t); at != std::string::npos; at = out.text.find(t, at + 1)) {
        EXPECT_TRUE(covered(out.content_spans, at, at + t.size()))
            << where << ": message text " << quote(t) << " at byte " << at << " is not marked as content";
      }
    }
  }
}

void check_model(const char* model) {
  std::string missing;
  auto loaded = load_golden(model, &missing);
  if (!loaded) GTEST_SKIP() << missing;
  Golden& golden = *loaded;
  ASSERT_GE(golden.cases.size(), 10u);
  for (const auto& c : golden.cases) {
    const std::string where = std::string(model) + "/" + c.at("name").get<std::string>();
    if (c.contains("error")) {
      try {
        golden.tmpl.render(request_for(c));
        ADD_FAILURE() << where << ": expected error " << c.at("error").dump();
      } catch (const JinjaError& e) {
        const std::string type = c.at("error").at("type").get<std::string>();
        if (type == "TemplateError") {
          EXPECT_EQ(e.kind(), jinja::ErrorKind::kRaised) << where << ": " << e.what();
          EXPECT_EQ(e.detail(), c.at("error").at("message").get<std::string>()) << where;
        }
      }
      continue;
    }
    RenderOutput out;
    try {
      out = golden.tmpl.render(request_for(c));
    } catch (const std::exception& e) {
      ADD_FAILURE() << where << ": unexpected error " << e.what();
      continue;
    }
    EXPECT_EQ(out.text, c.at("expected").get<std::string>()) << where;
    EXPECT_EQ(out.generation_spans, spans_of(c.at("generation_spans"))) << where;
    expect_texts_are_content(c.at("messages"), out, where);
  }
}

TEST(ChatTemplateGolden, Qwen2VL) {
  check_model("qwen2_vl");
}
TEST(ChatTemplateGolden, Qwen25VL) {
  check_model("qwen2_5_vl");
}
TEST(ChatTemplateGolden, Llava15) {
  check_model("llava_1_5");
}
TEST(ChatTemplateGolden, Idefics3) {
  check_model("idefics3");
}
TEST(ChatTemplateGolden, SmolVLM) {
  check_model("smolvlm");
}
TEST(ChatTemplateGolden, Gemma3) {
  check_model("gemma3");
}

// LLaVA wraps each assistant text part in {% generation %}: the spans must cover exactly that text.
TEST(ChatTemplateGolden, LlavaGenerationSpansCoverAssistantText) {
  std::string missing;
  auto golden = load_golden("llava_1_5", &missing);
  if (!golden) GTEST_SKIP() << missing;
  for (const auto& c : golden->cases) {
    if (c.contains("error")) continue;
    const RenderOutput out = golden->tmpl.render(request_for(c));
    size_t assistant_parts = 0;
    for (const auto& m : c.at("messages"))
      if (m.at("role") == "assistant" && m.at("content").is_array())
        for (const auto& p : m.at("content")) assistant_parts += p.at("type") == "text";
    ASSERT_EQ(out.generation_spans.size(), assistant_parts) << c.at("name");
    for (const auto& s : out.generation_spans) {
      ASSERT_LE(s.end, out.text.size());
      EXPECT_EQ(out.text[s.end - 1], ' ') << "LLaVA's generation block ends with the space after the text";
    }
  }
}

}  // namespace
}  // namespace vlm::text
