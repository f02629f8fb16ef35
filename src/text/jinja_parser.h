// Parser from tokens to the template AST, following jinja2's grammar and operator precedence:
//   condexpr < or < and < not < compare (== != < <= > >= in, not in) < + - < ~ < * / // % < ** (left
//   associative, as in jinja2) < unary - + < primary with postfix (.attr [index] (call)) and then
//   | filters, is tests and calls.
// Statements: for/else, if/elif/else, set (also ns.attr and block form), macro, call, filter, with,
// break/continue (the loopcontrols extension), generation (transformers' extension), raw, print.
// include/import/from/extends/block are rejected: templates cannot load other templates here.
#pragma once

#include <vector>

#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"

namespace vlm::text::jinja {

struct ParseLimits {
  int max_depth = 128;  // nesting of expressions and blocks
};

// Throws JinjaError(kSyntax or kSecurity) with the line and column of the offending token.
StmtList parse_template(const SourceMap& source, const std::vector<Token>& tokens, ParseLimits limits = {});

}  // namespace vlm::text::jinja
