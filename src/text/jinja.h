// A sandboxed Jinja interpreter for chat templates, rendering exactly as transformers' apply_chat_template:
// jinja2 3.x semantics with trim_blocks and lstrip_blocks, the loopcontrols extension ({% break %},
// {% continue %}), transformers' {% generation %} block, globals raise_exception(msg) and strftime_now(fmt),
// and a tojson filter that is json.dumps(x, ensure_ascii=False, indent, separators) with keys in order.
//
// Beyond the text, a render reports
//   content_spans     byte ranges copied from content variables (chat messages): tokenize the whole text in
//                     one pass, but do not match special/added tokens inside these ranges, so a user typing
//                     "<|im_end|>" stays text;
//   generation_spans  byte ranges of {% generation %} blocks (assistant text for label masks), computed as
//                     transformers computes them (start = output produced so far), in completion order.
// Provenance is tracked per byte through concatenation (+, ~, join, format, %), slicing, indexing and
// iteration over characters, strip/trim, split, replace (the replacement keeps its own provenance), case
// changes, escape, indent, center, reverse, repr() of containers and tojson (the escaped form of a content
// string is content). Values that are not strings (numbers, booleans, lengths) are markup when printed, even
// when computed from content.
//
// Known differences from jinja2 (none affects the templates in tests/fixtures/templates):
//   - ints are 64-bit (overflow is an error); range() gives a list and dict.items()/keys()/values() give
//     lists, so printing them shows a list rather than "range(0, 3)" / "dict_items([...])";
//   - Markup is not modelled: |safe marks nothing, |e always escapes;
//   - a container that contains itself cannot be printed (a limit error where Python prints "{...}");
//   - unsupported: recursive loops, macro varargs/kwargs, {% autoescape %}, the filters groupby, slice,
//     pprint, random, striptags, urlize, urlencode, wordwrap, xmlattr, filesizeformat and the globals cycler
//     and lipsum (errors name them); unknown filters/tests fail when evaluated, not when parsed;
//   - case mapping uses utf8proc plus the common multi-character mappings (ß -> SS, ligatures), without
//     Python's final-sigma rule.
//
// Sandbox: no file, network or system access; include/import/extends are errors; output size, loop
// iterations, evaluation steps, recursion depth and data nesting are bounded (JinjaLimits). Errors are
// JinjaError with the template's origin, line and column.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/jinja_error.h"
#include "text/jinja_string.h"

namespace vlm::text {

using jinja::ByteSpan;
using jinja::JinjaError;

struct JinjaLimits {
  size_t max_template_bytes = size_t{1} << 20;  // template source size
  size_t max_output_bytes = size_t{32} << 20;   // rendered text, and any single string value
  uint64_t max_loop_iterations = 1'000'000;     // for-loop iterations and macro calls, in total
  uint64_t max_steps = 50'000'000;              // expression evaluations and elements processed by filters
  int max_recursion_depth = 100;                // nested macro calls / caller() / captured blocks
  int max_data_depth = 256;                     // nesting of lists and dicts (input JSON and built values)
  int max_parse_depth = 128;                    // nesting of expressions and blocks in the source
};

// The variables of one render. JSON values become Python-like values; strings from a variable set as
// content are tracked as content. Key order of JSON objects is kept (use ordered_json: plain nlohmann::json
// sorts keys, which changes what tojson and dict iteration produce).
class JinjaContext {
 public:
  JinjaContext();
  ~JinjaContext();
  JinjaContext(JinjaContext&&) noexcept;
  JinjaContext& operator=(JinjaContext&&) noexcept;

  void set(const std::string& name, const nlohmann::ordered_json& value, bool content = false);
  void set(const std::string& name, const nlohmann::json& value, bool content = false);
  void set_string(const std::string& name, std::string value, bool content = false);
  void set_bool(const std::string& name, bool value);
  void set_none(const std::string& name);
  // The clock strftime_now() reads (default: the current local time).
  void set_now(std::time_t now) { now_ = now; }
  std::optional<std::time_t> now() const { return now_; }

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
  std::optional<std::time_t> now_;
};

struct RenderOutput {
  std::string text;
  std::vector<ByteSpan> content_spans;     // sorted, disjoint
  std::vector<ByteSpan> generation_spans;  // in completion order
};

class JinjaTemplate {
 public:
  // Parses `source`. `origin` names the template in errors (a file path, "tokenizer_config.json", ...).
  static JinjaTemplate parse(std::string_view source, std::string origin = "template",
                             JinjaLimits limits = {});

  JinjaTemplate(JinjaTemplate&&) noexcept;
  JinjaTemplate& operator=(JinjaTemplate&&) noexcept;
  ~JinjaTemplate();

  RenderOutput render(const JinjaContext& context) const;
  const std::string& origin() const;
  const JinjaLimits& limits() const;

 private:
  struct Impl;
  explicit JinjaTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlm::text
