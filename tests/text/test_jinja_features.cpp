// Every Jinja feature and error case of tests/fixtures/templates/features.json, rendered by transformers'
// render_jinja_template (scripts/fixtures/make_template_fixtures.py): the C++ interpreter must produce the
// same text byte for byte, the same {% generation %} spans, and an error wherever transformers raised one
// (of the matching kind, at the same line for syntax errors, with the same message for raise_exception,
// undefined values and sandbox refusals).
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "core/file.h"
#include "text/jinja.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

using OJson = nlohmann::ordered_json;

const char* kFixture = "templates/features.json";

struct FeatureCase {
  std::string name;
  OJson data;
};

std::vector<FeatureCase> load_cases() {
  const std::string path = test::fixture(kFixture);
  if (!path_exists(path)) return {{"fixture_missing", OJson()}};
  const OJson j = OJson::parse(read_file(path, 64 << 20));
  std::vector<FeatureCase> cases;
  for (const auto& c : j.at("cases")) cases.push_back({c.at("name").get<std::string>(), c});
  return cases;
}

void PrintTo(const FeatureCase& c, std::ostream* os) {
  *os << c.name;
}

class JinjaFeature : public ::testing::TestWithParam<FeatureCase> {};

size_t line_count(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')) + 1;
}

JinjaContext context_for(const OJson& c) {
  // What render_jinja_template passes: messages, tools=None, documents=None, add_generation_prompt, kwargs.
  JinjaContext ctx;
  ctx.set("messages", c.at("messages"), true);
  ctx.set_none("tools");
  ctx.set_none("documents");
  ctx.set_bool("add_generation_prompt", false);
  for (auto it = c.at("variables").begin(); it != c.at("variables").end(); ++it)
    ctx.set(it.key(), it.value());
  return ctx;
}

std::vector<ByteSpan> spans_of(const OJson& j) {
  std::vector<ByteSpan> out;
  for (const auto& s : j) out.push_back({s[0].get<size_t>(), s[1].get<size_t>()});
  return out;
}

TEST_P(JinjaFeature, MatchesTransformers) {
  const FeatureCase& fc = GetParam();
  if (fc.data.is_null())
    GTEST_SKIP() << "missing fixture " << test::fixture(kFixture)
                 << " (run scripts/fixtures/make_template_fixtures.py)";
  const OJson& c = fc.data;
  const std::string source = c.at("template").get<std::string>();
  if (!c.contains("error")) {
    RenderOutput out;
    try {
      out = JinjaTemplate::parse(source, fc.name).render(context_for(c));
    } catch (const std::exception& e) {
      FAIL() << "unexpected error: " << e.what() << "\ntemplate: " << source;
    }
    EXPECT_EQ(out.text, c.at("expected").get<std::string>()) << "template: " << source;
    EXPECT_EQ(out.generation_spans, spans_of(c.at("generation_spans")));
    return;
  }
  const OJson& err = c.at("error");
  const std::string type = err.at("type").get<std::string>();
  const std::string message = err.at("message").get<std::string>();
  try {
    JinjaTemplate::parse(source, fc.name).render(context_for(c));
    FAIL() << "expected " << type << ": " << message << "\ntemplate: " << source;
  } catch (const JinjaError& e) {
    if (type == "TemplateSyntaxError" || type == "SyntaxError") {
      EXPECT_EQ(e.kind(), jinja::ErrorKind::kSyntax) << e.what();
      // jinja2 reports lines of its generated Python code for a few errors; compare real template lines only.
      const size_t line = err.value("line", 0);
      if (line >= 1 && line <= line_count(source)) {
        EXPECT_EQ(e.line(), line) << e.what();
      }
    } else if (type == "TemplateError") {  // transformers' raise_exception
      EXPECT_EQ(e.kind(), jinja::ErrorKind::kRaised) << e.what();
      EXPECT_EQ(e.detail(), message);
    } else if (type == "UndefinedError") {
      EXPECT_EQ(e.kind(), jinja::ErrorKind::kUndefined) << e.what();
      EXPECT_EQ(e.detail(), message);
    } else if (type == "SecurityError") {
      EXPECT_EQ(e.kind(), jinja::ErrorKind::kSecurity) << e.what();
      EXPECT_EQ(e.detail(), message);
    } else if (message == "no loader for this environment specified") {
      // jinja2 fails include/import/extends for want of a loader; the sandbox refuses them outright.
      EXPECT_EQ(e.kind(), jinja::ErrorKind::kSecurity) << e.what();
    } else {
      EXPECT_NE(e.detail().find(message), std::string::npos)
          << "python: " << type << ": " << message << "\nc++: " << e.what();
    }
    EXPECT_GE(e.line(), 1u) << "errors name a line: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Features, JinjaFeature, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<FeatureCase>& param) { return param.param.name; });

}  // namespace
}  // namespace vlm::text
