// Internal to the parser: the token stream and the expression grammar (jinja2's Parser.parse_expression and
// below), shared by the statement parser in jinja_parser.cpp. Precedence, lowest first: conditional
// expression, or, and, not, comparisons (== != < <= > >= in, not in), + -, ~, * / // %, ** (left
// associative, as in jinja2), unary - +, then a primary with postfix .attr [index] (call), then | filters,
// is tests and calls.
#pragma once

#include <string>
#include <vector>

#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"
#include "text/jinja_parser.h"

namespace vlm::text::jinja {

// jinja2's describe_token: how a token is named in error messages.
std::string describe(const Token& t);

class ParserBase {
 public:
  ParserBase(const SourceMap& source, const std::vector<Token>& tokens, ParseLimits limits)
      : map_(source), tokens_(tokens), limits_(limits) {}

 protected:
  using Names = std::vector<const char*>;

  // ---- token stream ---------------------------------------------------------------------------------------
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& advance();
  static bool is_op(const Token& t, const char* op) {
    return t.type == TokenType::kOperator && t.value == op;
  }
  static bool is_name(const Token& t, const char* name) {
    return t.type == TokenType::kName && t.value == name;
  }
  bool skip_op(const char* op);
  bool skip_name(const char* name);
  static std::string quote_tok(const Token& t) { return "'" + describe(t) + "'"; }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    fail_offset(at.offset, message);
  }
  [[noreturn]] void fail_offset(size_t offset, const std::string& message) const;

  [[noreturn]] void expect_failed(const std::string& expected) const;
  const Token& expect_op(const char* op);
  const Token& expect_type(TokenType type, const char* what);
  const Token& expect_name() { return expect_type(TokenType::kName, "name"); }
  const Token& expect_keyword(const char* name);
  void expect_block_end() { expect_type(TokenType::kBlockEnd, "end of statement block"); }

  struct DepthGuard {
    ParserBase& p;
    explicit DepthGuard(ParserBase& parser) : p(parser) {
      if (++p.depth_ > p.limits_.max_depth)
        p.fail(p.cur(), str("template nesting is deeper than ", p.limits_.max_depth, " levels"));
    }
    ~DepthGuard() { --p.depth_; }
  };

  static ExprPtr node(ExprKind kind, size_t offset);
  // Sets e->depth from its children and refuses trees deeper than 4 * max_depth: long left-assoc chains
  // (a + b + c ..., x|f|g ..., x.a.b ...) would otherwise make evaluation and destruction recurse deeply.
  ExprPtr finish(ExprPtr e) const;

  // True at a name token that is one of end_names (an end tag, or an extra end of a tuple).
  bool at_end_tag(const Names& end_names) const;
  bool is_tuple_end(const Names& extra) const;

  // ---- expressions ----------------------------------------------------------------------------------------
  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const Names& extra_end, bool explicit_parens);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr binary(const char* op, ExprPtr left, ExprPtr right, size_t offset);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr subject);
  ExprPtr parse_subscribed();
  CallSite parse_call_args();
  ExprPtr parse_call(ExprPtr callee);
  std::string parse_dotted_name();
  ExprPtr parse_filter(ExprPtr subject, bool start_inline);
  ExprPtr parse_test(ExprPtr subject);

  const SourceMap& map_;
  const std::vector<Token>& tokens_;
  ParseLimits limits_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace vlm::text::jinja
