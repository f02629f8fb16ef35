// Errors of the Jinja interpreter: where they point (line and column of the offending token), what kind they
// are, the sandbox's refusals (include/import/extends, mutating methods) and every limit (template size,
// parse depth, output size, loop iterations, steps, recursion depth, data nesting). Limits must stop hostile
// templates cleanly, never by crashing or hanging.
#include <gtest/gtest.h>

#include <string>

#include "text/jinja.h"

namespace vlm::text {
namespace {

using jinja::ErrorKind;

// 1-based line and column (in code points) of the first occurrence of `needle` in `source`.
std::pair<uint32_t, uint32_t> position_of(const std::string& source, const std::string& needle) {
  const size_t at = source.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  uint32_t line = 1, column = 1;
  for (size_t i = 0; i < at; ++i) {
    if (source[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return {line, column};
}

JinjaError error_of(const std::string& source, const JinjaContext& ctx = JinjaContext(),
                    JinjaLimits limits = {}) {
  try {
    JinjaTemplate::parse(source, "test.jinja", limits).render(ctx);
  } catch (const JinjaError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for template: " << source;
  return JinjaError(ErrorKind::kRuntime, "", {}, "none");
}

void expect_at(const JinjaError& e, const std::string& source, const std::string& needle) {
  const auto [line, column] = position_of(source, needle);
  EXPECT_EQ(e.line(), line) << e.what();
  EXPECT_EQ(e.column(), column) << e.what();
  EXPECT_NE(std::string(e.what()).find("test.jinja:"), std::string::npos)
      << "errors name the template: " << e.what();
}

TEST(JinjaErrors, SyntaxErrorPointsAtTheOffendingToken) {
  const std::string src = "line one\n  {{ 1 + }}";
  const JinjaError e = error_of(src);
  EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
  expect_at(e, src, "}}");
}

TEST(JinjaErrors, UnknownTagPointsAtTheTagName) {
  const std::string src = "ok\nok {% frobnicate x %}";
  const JinjaError e = error_of(src);
  EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
  expect_at(e, src, "frobnicate");
  EXPECT_NE(e.detail().find("unknown tag 'frobnicate'"), std::string::npos) << e.what();
}

TEST(JinjaErrors, UnclosedBlockNamesTheMissingTag) {
  const JinjaError e = error_of("{% for x in xs %}\n{{ x }}");
  EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
  EXPECT_EQ(e.line(), 2u);
  EXPECT_NE(e.detail().find("'endfor'"), std::string::npos) << e.what();
}

TEST(JinjaErrors, ColumnsCountCodePoints) {
  const std::string src = "é😀 {{ 'x' + }}";
  const JinjaError e = error_of(src);
  expect_at(e, src, "}}");
}

TEST(JinjaErrors, LexerErrors) {
  for (const std::string src : {"{{ 'unterminated }}", "{# never closed", "{{ x $ y }}", "{{ (1 }}",
                                "{{ 1 ] }}", "{% raw %} no end", "{{ '\\x4' }}"}) {
    const JinjaError e = error_of(src);
    EXPECT_EQ(e.kind(), ErrorKind::kSyntax) << src << " -> " << e.what();
    EXPECT_EQ(e.line(), 1u) << e.what();
  }
}

TEST(JinjaErrors, LoadingOtherTemplatesIsRefused) {
  for (const std::string tag : {"include 'a.jinja'", "import 'a.jinja' as a", "from 'a.jinja' import m",
                                "extends 'base.jinja'", "block body"}) {
    const std::string src = "x\n{% " + tag + " %}";
    const JinjaError e = error_of(src);
    EXPECT_EQ(e.kind(), ErrorKind::kSecurity) << e.what();
    EXPECT_EQ(e.line(), 2u) << e.what();
    EXPECT_NE(e.detail().find("cannot load other templates"), std::string::npos) << e.what();
  }
}

TEST(JinjaErrors, RaiseExceptionKeepsTheMessage) {
  const std::string src = "a\n{% if true %}{{ raise_exception('Roles must alternate: ' ~ 3) }}{% endif %}";
  const JinjaError e = error_of(src);
  EXPECT_EQ(e.kind(), ErrorKind::kRaised);
  EXPECT_EQ(e.detail(), "Roles must alternate: 3");
  expect_at(e, src, "raise_exception");
}

TEST(JinjaErrors, UndefinedUsesRaise) {
  const std::string src = "{{ messages[0].content }}\n{{ missing.attr }}";
  JinjaContext ctx;
  ctx.set("messages", nlohmann::ordered_json::parse(R"([{"content": "c"}])"), true);
  const JinjaError e = error_of(src, ctx);
  EXPECT_EQ(e.kind(), ErrorKind::kUndefined);
  EXPECT_EQ(e.detail(), "'missing' is undefined");
  EXPECT_EQ(e.line(), 2u);
}

TEST(JinjaErrors, SandboxRefusesMutation) {
  for (const std::string src : {"{{ xs.append(1) }}", "{{ d.update({'a': 2}) }}", "{{ d.pop('a') }}",
                                "{{ xs.__class__.__name__ }}", "{{ ''.__class__.__mro__ }}"}) {
    JinjaContext ctx;
    ctx.set("xs", nlohmann::ordered_json::parse("[1]"));
    ctx.set("d", nlohmann::ordered_json::parse(R"({"a": 1})"));
    const JinjaError e = error_of(src, ctx);
    EXPECT_EQ(e.kind(), ErrorKind::kSecurity) << src << " -> " << e.what();
  }
}

// ---- limits -----------------------------------------------------------------------------------------------

TEST(JinjaLimits, TemplateSize) {
  JinjaLimits limits;
  limits.max_template_bytes = 16;
  const JinjaError e = error_of("{{ 'this template is too long' }}", JinjaContext(), limits);
  EXPECT_EQ(e.kind(), ErrorKind::kLimit);
}

TEST(JinjaLimits, ParseDepth) {
  const std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_EQ(error_of(deep).kind(), ErrorKind::kSyntax);
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  EXPECT_EQ(error_of(nested_ifs).kind(), ErrorKind::kSyntax);
  EXPECT_EQ(error_of("{{ " + std::string(5000, '-') + "1 }}").kind(), ErrorKind::kSyntax);
  EXPECT_EQ(error_of("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}").kind(),
            ErrorKind::kSyntax);
  // Long left-associative chains are bounded too (their evaluation and destruction would recurse).
  std::string sum = "{{ 1", filters = "{{ 'x'", attrs = "{{ d";
  for (int i = 0; i < 20000; ++i) {
    sum += " + 1";
    filters += "|trim";
    attrs += ".a";
  }
  for (std::string* s : {&sum, &filters, &attrs}) EXPECT_EQ(error_of(*s + " }}").kind(), ErrorKind::kSyntax);
}

TEST(JinjaLimits, OutputSize) {
  JinjaLimits limits;
  limits.max_output_bytes = 1000;
  EXPECT_EQ(error_of("{% for i in range(100) %}0123456789ABCDEF{% endfor %}", JinjaContext(), limits).kind(),
            ErrorKind::kLimit);
  EXPECT_EQ(error_of("{{ 'x' * 100000 }}", JinjaContext(), limits).kind(), ErrorKind::kLimit);
  EXPECT_EQ(error_of("{{ 'ab'|replace('', 'xxxxxxxxxx' * 90) }}", JinjaContext(), limits).kind(),
            ErrorKind::kLimit);
  // Growing a string by doubling stops at the limit instead of exhausting memory.
  EXPECT_EQ(
      error_of(
          "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
          JinjaContext(), limits)
          .kind(),
      ErrorKind::kLimit);
}

TEST(JinjaLimits, ValueSizes) {
  // Building a huge repr, JSON text or list fails cleanly at the limits, before memory runs out.
  JinjaLimits limits;
  limits.max_output_bytes = 10000;
  limits.max_loop_iterations = 1000;
  for (const std::string src :
       {"{% set s = 'x' * 5000 %}{{ [s] * 500 }}", "{% set s = 'x' * 5000 %}{{ ([s] * 500)|tojson }}",
        "{{ ('a,' * 2000).split(',')|length }}", "{{ ('ab' * 2000)|list|length }}",
        "{{ ([1] * 600 + [2] * 600)|length }}", "{{ 'x' * 5000 ~ 'y' * 5001 }}",
        "{{ '{:99999999}'.format(1) }}", "{{ [1]|batch(100000, 0)|list }}"}) {
    const JinjaError e = error_of(src, JinjaContext(), limits);
    EXPECT_EQ(e.kind(), ErrorKind::kLimit) << src << " -> " << e.what();
  }
}

TEST(JinjaLimits, LoopIterations) {
  JinjaLimits limits;
  limits.max_loop_iterations = 5000;
  const JinjaError e = error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
                                JinjaContext(), limits);
  EXPECT_EQ(e.kind(), ErrorKind::kLimit);
  EXPECT_NE(e.detail().find("5000"), std::string::npos) << e.what();
}

TEST(JinjaLimits, EvaluationSteps) {
  JinjaLimits limits;
  limits.max_steps = 100000;
  // Few loop iterations, but each one sorts a long list.
  EXPECT_EQ(
      error_of("{% set xs = range(50000)|list %}{% for i in range(20) %}{{ xs|sort|length }}{% endfor %}",
               JinjaContext(), limits)
          .kind(),
      ErrorKind::kLimit);
}

TEST(JinjaLimits, RecursionDepth) {
  const JinjaError e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(e.kind(), ErrorKind::kLimit);
  // Exponential recursion is stopped by the call budget.
  JinjaLimits limits;
  limits.max_loop_iterations = 10000;
  EXPECT_EQ(
      error_of(
          "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
          JinjaContext(), limits)
          .kind(),
      ErrorKind::kLimit);
}

TEST(JinjaLimits, DataNesting) {
  // Input JSON nested beyond the limit is refused when the variable is set.
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  for (int i = 0; i < 1000; ++i) deep += "]";
  JinjaContext ctx;
  EXPECT_THROW(ctx.set("x", nlohmann::ordered_json::parse(deep)), JinjaError);
  // Values built deeper than the limit in the template fail when printed or serialized, not crash.
  const std::string build =
      "{% set ns = namespace(v=[]) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}{% endfor %}";
  EXPECT_EQ(error_of(build + "{{ ns.v }}").kind(), ErrorKind::kLimit);
  EXPECT_EQ(error_of(build + "{{ ns.v|tojson }}").kind(), ErrorKind::kLimit);
  EXPECT_EQ(error_of(build + "{{ ns.v == ns.v }}").kind(), ErrorKind::kLimit);
  // A namespace that contains itself is not an infinite loop.
  EXPECT_EQ(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").kind(), ErrorKind::kLimit);
}

TEST(JinjaLimits, RangeIsCapped) {
  const JinjaError e = error_of("{{ range(100001)|length }}");
  EXPECT_EQ(e.kind(), ErrorKind::kLimit);
}

TEST(JinjaLimits, IntegerOverflowIsAnError) {
  EXPECT_EQ(error_of("{{ 2 ** 64 }}").kind(), ErrorKind::kRuntime);
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}").kind(), ErrorKind::kRuntime);
  EXPECT_EQ(error_of("{{ 99999999999999999999 }}").kind(), ErrorKind::kSyntax);
}

}  // namespace
}  // namespace vlm::text
