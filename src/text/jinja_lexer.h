// Tokenizer for Jinja templates, reproducing jinja2 3.x's lexer with the options transformers uses
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False):
//   - newlines (\r\n, \r, \n) become \n and one trailing newline of the template is dropped;
//   - "{%-" / "{{-" / "{#-" strip all whitespace before the tag, "-%}" / "-}}" / "-#}" all after it;
//   - trim_blocks drops the first "\n" after a block or comment tag ("+%}" keeps it);
//   - lstrip_blocks drops spaces/tabs between a line start and a block or comment tag ("{%+" keeps them);
//   - {% raw %}...{% endraw %} is data;
//   - inside tags, "}}" / "%}" end the tag only when brackets are balanced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/jinja_error.h"

namespace vlm::text::jinja {

enum class TokenType : uint8_t {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof
};

struct Token {
  TokenType type;
  std::string value;  // data text, name, decoded string literal, operator, or the literal's spelling
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // byte offset in the normalized source
};

// The normalized template text and a line index, to turn byte offsets into 1-based line and column.
class SourceMap {
 public:
  SourceMap(std::string origin, std::string normalized);
  const std::string& origin() const { return origin_; }
  const std::string& text() const { return text_; }
  SourceLoc loc(size_t offset) const;

 private:
  std::string origin_;
  std::string text_;
  std::vector<size_t> line_starts_;
};

// \r\n and \r -> \n; removes a single trailing newline (jinja2's keep_trailing_newline=False).
std::string normalize_template_source(std::string_view raw);

// Tokens of the whole template, ending with kEof. Syntax errors throw JinjaError.
std::vector<Token> tokenize(const SourceMap& source);

}  // namespace vlm::text::jinja
