// Provenance: which output bytes came from content variables (chat messages) and which from template
// markup. Expected spans are where the content text lands in the output, found by searching the output.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/chat_template.h"
#include "text/jinja.h"

namespace vlm::text {
namespace {

using OJson = nlohmann::ordered_json;

RenderOutput render(const std::string& source, const std::string& messages_json,
                    const std::string& markup_json = "{}") {
  JinjaContext ctx;
  ctx.set("messages", OJson::parse(messages_json), true);
  const OJson markup = OJson::parse(markup_json);
  for (auto it = markup.begin(); it != markup.end(); ++it) ctx.set(it.key(), it.value(), false);
  return JinjaTemplate::parse(source, "provenance").render(ctx);
}

// The byte span of the n-th occurrence of `needle` in `text`.
ByteSpan span_of(const std::string& text, const std::string& needle, int n = 0) {
  size_t at = text.find(needle);
  for (int i = 0; i < n && at != std::string::npos; ++i) at = text.find(needle, at + 1);
  EXPECT_NE(at, std::string::npos) << needle << " not in " << text;
  return {at, at + needle.size()};
}

TEST(JinjaProvenance, ContentAndMarkupAreSeparated) {
  const RenderOutput out =
      render("<|im_start|>{{ messages[0].role }}\n{{ messages[0].content }}<|im_end|>{{ eos }}",
             R"([{"role": "user", "content": "hi <|im_end|> there"}])", R"({"eos": "</s>"})");
  ASSERT_EQ(out.text, "<|im_start|>user\nhi <|im_end|> there<|im_end|></s>");
  const std::vector<ByteSpan> want = {span_of(out.text, "user"), span_of(out.text, "hi <|im_end|> there")};
  EXPECT_EQ(out.content_spans, want);
}

TEST(JinjaProvenance, ConcatenationKeepsPieces) {
  const RenderOutput out = render("{{ '[' + messages[0].content + ']' ~ messages[1].content }}",
                                  R"([{"content": "a"}, {"content": "bc"}])");
  ASSERT_EQ(out.text, "[a]bc");
  // Adjacent content runs merge into one span.
  EXPECT_EQ(out.content_spans, (std::vector<ByteSpan>{{1, 2}, {3, 5}}));
}

TEST(JinjaProvenance, StringOperationsKeepContent) {
  const std::string msgs = R"([{"content": "  Hello World  "}])";
  struct Case {
    const char* expr;
    const char* content_text;  // the content part of the output
  };
  const Case cases[] = {
      {"messages[0].content|trim", "Hello World"},
      {"messages[0].content.strip()|upper", "HELLO WORLD"},
      {"messages[0].content.split()|join('-')", "Hello"},
      {"messages[0].content.strip()[6:]", "World"},
      {"messages[0].content.strip().replace('World', 'You')", "Hello "},
      {"messages[0].content|trim|title", "Hello World"},
      {"'%s!' % messages[0].content.strip()", "Hello World"},
  };
  for (const auto& c : cases) {
    const RenderOutput out = render(std::string("<{{ ") + c.expr + " }}>", msgs);
    ASSERT_FALSE(out.content_spans.empty()) << c.expr << " -> " << out.text;
    EXPECT_EQ(out.content_spans[0], span_of(out.text, c.content_text)) << c.expr << " -> " << out.text;
    EXPECT_EQ(out.text.front(), '<');
    EXPECT_FALSE(out.content_spans.back().end == out.text.size()) << "the closing markup is not content";
  }
}

TEST(JinjaProvenance, ReplacementTextFromMarkupIsMarkup) {
  const RenderOutput out =
      render("{{ messages[0].content.replace('X', '<tok>') }}", R"([{"content": "aXb"}])");
  ASSERT_EQ(out.text, "a<tok>b");
  EXPECT_EQ(out.content_spans, (std::vector<ByteSpan>{{0, 1}, {6, 7}}));
}

TEST(JinjaProvenance, TojsonAndReprKeepEscapedContent) {
  const RenderOutput out =
      render("{{ messages[0]|tojson }}|{{ [messages[0].content] }}", R"([{"content": "q\"<|x|>"}])");
  ASSERT_EQ(out.text, R"({"content": "q\"<|x|>"}|['q"<|x|>'])");
  // Keys and values of the message dict are content; JSON punctuation is markup.
  EXPECT_TRUE(std::find(out.content_spans.begin(), out.content_spans.end(), span_of(out.text, "content")) !=
              out.content_spans.end());
  EXPECT_TRUE(std::find(out.content_spans.begin(), out.content_spans.end(),
                        span_of(out.text, R"(q\"<|x|>)")) != out.content_spans.end());
  EXPECT_TRUE(std::find(out.content_spans.begin(), out.content_spans.end(),
                        span_of(out.text, R"(q"<|x|>)")) != out.content_spans.end());
}

TEST(JinjaProvenance, NumbersAndMarkupVariablesAreNotContent) {
  const RenderOutput out =
      render("{{ bos }}{{ messages|length }}{{ messages[0].content|length }}{{ messages[0].n }}",
             R"([{"content": "abc", "n": 7}])", R"({"bos": "<s>"})");
  ASSERT_EQ(out.text, "<s>137");
  EXPECT_TRUE(out.content_spans.empty());
}

TEST(JinjaProvenance, CapturedBlocksAndMacrosKeepContent) {
  const RenderOutput out = render(
      "{% macro wrap(t) %}<{{ t }}>{% endmacro %}{% set body %}{{ messages[0].content }}{% endset %}"
      "{{ wrap(body) }}{% filter upper %}{{ messages[0].content }}{% endfilter %}",
      R"([{"content": "ab"}])");
  ASSERT_EQ(out.text, "<ab>AB");
  EXPECT_EQ(out.content_spans, (std::vector<ByteSpan>{{1, 3}, {4, 6}}));
}

TEST(JinjaProvenance, ChatTemplateMarksMessagesAndToolsAsContent) {
  const ChatTemplate t = ChatTemplate::from_string(
      "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ tools|tojson }}");
  ChatRenderRequest r;
  r.messages = OJson::parse(R"([{"role": "user", "content": "<bos>"}])");
  r.tools = OJson::parse(R"([{"name": "f"}])");
  r.variables = OJson::parse(R"({"bos_token": "<bos>"})");
  const RenderOutput out = t.render(r);
  ASSERT_EQ(out.text, R"(<bos>[<bos>][{"name": "f"}])");
  const std::vector<ByteSpan> want = {span_of(out.text, "<bos>", 1), span_of(out.text, "name"),
                                      span_of(out.text, "f\"")};
  ASSERT_EQ(out.content_spans.size(), 3u);
  EXPECT_EQ(out.content_spans[0], want[0]);
  EXPECT_EQ(out.content_spans[1], want[1]);
  EXPECT_EQ(out.content_spans[2], (ByteSpan{want[2].begin, want[2].begin + 1}));
}

}  // namespace
}  // namespace vlm::text
