// The token stream of the parser: lookahead, expectations and their error messages.
#include "text/jinja_parser_base.h"

#include <algorithm>

namespace vlm::text::jinja {

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kData:
      return "template data / text";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kEof:
      return "end of template";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    default:
      return t.value;
  }
}

// ---- token stream -----------------------------------------------------------------------------------------

const Token& ParserBase::advance() {
  const Token& t = tokens_[pos_];
  if (pos_ + 1 < tokens_.size()) ++pos_;
  return t;
}

bool ParserBase::skip_op(const char* op) {
  if (!is_op(cur(), op)) return false;
  advance();
  return true;
}

bool ParserBase::skip_name(const char* name) {
  if (!is_name(cur(), name)) return false;
  advance();
  return true;
}

void ParserBase::fail_offset(size_t offset, const std::string& message) const {
  throw JinjaError(ErrorKind::kSyntax, map_.origin(), map_.loc(offset), message);
}

void ParserBase::expect_failed(const std::string& expected) const {
  if (cur().type == TokenType::kEof) fail(cur(), "unexpected end of template, expected '" + expected + "'.");
  fail(cur(), "expected token '" + expected + "', got " + quote_tok(cur()));
}

const Token& ParserBase::expect_op(const char* op) {
  if (!is_op(cur(), op)) expect_failed(op);
  return advance();
}

const Token& ParserBase::expect_type(TokenType type, const char* what) {
  if (cur().type != type) expect_failed(what);
  return advance();
}

const Token& ParserBase::expect_keyword(const char* name) {
  if (!is_name(cur(), name)) expect_failed(name);
  return advance();
}

ExprPtr ParserBase::node(ExprKind kind, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

ExprPtr ParserBase::finish(ExprPtr e) const {
  int d = 0;
  auto see = [&](const ExprPtr& c) {
    if (c) d = std::max(d, c->depth);
  };
  see(e->a);
  see(e->b);
  see(e->c);
  for (const auto& x : e->items) see(x);
  for (const auto& x : e->values) see(x);
  for (const auto& x : e->call.args) see(x);
  for (const auto& k : e->call.kwargs) see(k.value);
  see(e->call.dyn_args);
  see(e->call.dyn_kwargs);
  e->depth = d + 1;
  if (e->depth > 4 * limits_.max_depth)
    fail_offset(e->offset, str("expression is nested deeper than ", 4 * limits_.max_depth, " levels"));
  return e;
}

bool ParserBase::at_end_tag(const Names& end_names) const {
  if (cur().type != TokenType::kName) return false;
  return std::any_of(end_names.begin(), end_names.end(), [&](const char* n) { return cur().value == n; });
}

bool ParserBase::is_tuple_end(const Names& extra) const {
  const Token& t = cur();
  if (t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEof ||
      is_op(t, ")"))
    return true;
  return at_end_tag(extra);
}

}  // namespace vlm::text::jinja
