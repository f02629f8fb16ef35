// The expression grammar of the parser (see jinja_parser_base.h).
#include <algorithm>

#include "text/jinja_parser_base.h"

namespace vlm::text::jinja {

// ---- expressions ------------------------------------------------------------------------------------------

ExprPtr ParserBase::parse_tuple(bool simplified, bool with_condexpr, const Names& extra_end,
                                bool explicit_parens) {
  const size_t offset = cur().offset;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
    if (is_op(cur(), ",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) fail(cur(), "Expected an expression, got " + quote_tok(cur()));
  }
  auto e = node(ExprKind::kTuple, offset);
  e->items = std::move(items);
  return finish(std::move(e));
}

ExprPtr ParserBase::parse_expression(bool with_condexpr) {
  DepthGuard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr ParserBase::parse_condexpr() {
  const size_t offset = cur().offset;
  ExprPtr expr1 = parse_or();
  while (skip_name("if")) {
    auto e = node(ExprKind::kCondExpr, offset);
    e->a = parse_or();
    e->b = std::move(expr1);
    if (skip_name("else")) e->c = parse_condexpr();
    expr1 = finish(std::move(e));
  }
  return expr1;
}

ExprPtr ParserBase::parse_or() {
  ExprPtr left = parse_and();
  while (is_name(cur(), "or")) {
    auto e = node(ExprKind::kOr, advance().offset);
    e->a = std::move(left);
    e->b = parse_and();
    left = finish(std::move(e));
  }
  return left;
}

ExprPtr ParserBase::parse_and() {
  ExprPtr left = parse_not();
  while (is_name(cur(), "and")) {
    auto e = node(ExprKind::kAnd, advance().offset);
    e->a = std::move(left);
    e->b = parse_not();
    left = finish(std::move(e));
  }
  return left;
}

ExprPtr ParserBase::parse_not() {
  if (is_name(cur(), "not")) {
    DepthGuard guard(*this);
    auto e = node(ExprKind::kNot, advance().offset);
    e->a = parse_not();
    return finish(std::move(e));
  }
  return parse_compare();
}

ExprPtr ParserBase::parse_compare() {
  const size_t offset = cur().offset;
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  static const char* const kOps[] = {"==", "!=", "<", "<=", ">", ">="};
  while (true) {
    std::string op;
    for (const char* o : kOps)
      if (is_op(cur(), o)) op = o;
    if (!op.empty()) {
      advance();
    } else if (is_name(cur(), "in")) {
      advance();
      op = "in";
    } else if (is_name(cur(), "not") && is_name(look(), "in")) {
      advance();
      advance();
      op = "notin";
    } else {
      break;
    }
    if (!cmp) {
      cmp = node(ExprKind::kCompare, offset);
      cmp->items.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->items.push_back(parse_math1());
  }
  return cmp ? finish(std::move(cmp)) : std::move(first);
}

ExprPtr ParserBase::binary(const char* op, ExprPtr left, ExprPtr right, size_t offset) {
  auto e = node(ExprKind::kBinary, offset);
  e->name = op;
  e->a = std::move(left);
  e->b = std::move(right);
  return finish(std::move(e));
}

ExprPtr ParserBase::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op(cur(), "+") || is_op(cur(), "-")) {
    const Token& t = advance();
    left = binary(t.value.c_str(), std::move(left), parse_concat(), t.offset);
  }
  return left;
}

ExprPtr ParserBase::parse_concat() {
  const size_t offset = cur().offset;
  ExprPtr first = parse_math2();
  if (!is_op(cur(), "~")) return first;
  auto e = node(ExprKind::kConcat, offset);
  e->items.push_back(std::move(first));
  while (skip_op("~")) e->items.push_back(parse_math2());
  return finish(std::move(e));
}

ExprPtr ParserBase::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op(cur(), "*") || is_op(cur(), "/") || is_op(cur(), "//") || is_op(cur(), "%")) {
    const Token& t = advance();
    left = binary(t.value.c_str(), std::move(left), parse_pow(), t.offset);
  }
  return left;
}

ExprPtr ParserBase::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op(cur(), "**")) {
    const Token& t = advance();
    left = binary("**", std::move(left), parse_unary(true), t.offset);
  }
  return left;
}

ExprPtr ParserBase::parse_unary(bool with_filter) {
  DepthGuard guard(*this);
  ExprPtr e;
  if (is_op(cur(), "-") || is_op(cur(), "+")) {
    const Token& t = advance();
    e = node(t.value == "-" ? ExprKind::kNeg : ExprKind::kPos, t.offset);
    e->a = parse_unary(false);
    e = finish(std::move(e));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr ParserBase::parse_primary() {
  DepthGuard guard(*this);
  const Token& t = cur();
  if (t.type == TokenType::kName) {
    advance();
    if (t.value == "true" || t.value == "True" || t.value == "false" || t.value == "False") {
      auto e = node(ExprKind::kConst, t.offset);
      e->constant = Value::boolean(t.value == "true" || t.value == "True");
      return e;
    }
    if (t.value == "none" || t.value == "None") {
      auto e = node(ExprKind::kConst, t.offset);
      e->constant = Value::none();
      return e;
    }
    auto e = node(ExprKind::kName, t.offset);
    e->name = t.value;
    return e;
  }
  if (t.type == TokenType::kString) {
    std::string text;
    const size_t offset = t.offset;
    while (cur().type == TokenType::kString) text += advance().value;
    auto e = node(ExprKind::kConst, offset);
    e->constant = Value::string(std::move(text));
    return e;
  }
  if (t.type == TokenType::kInteger || t.type == TokenType::kFloat) {
    advance();
    auto e = node(ExprKind::kConst, t.offset);
    e->constant = t.type == TokenType::kInteger ? Value::integer(t.int_value) : Value::number(t.float_value);
    return e;
  }
  if (is_op(t, "(")) {
    advance();
    ExprPtr e = parse_tuple(false, true, {}, true);
    expect_op(")");
    return e;
  }
  if (is_op(t, "[")) {
    auto e = node(ExprKind::kList, advance().offset);
    while (!is_op(cur(), "]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op(cur(), "]")) break;
      e->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return finish(std::move(e));
  }
  if (is_op(t, "{")) {
    auto e = node(ExprKind::kDict, advance().offset);
    while (!is_op(cur(), "}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op(cur(), "}")) break;
      e->items.push_back(parse_expression(true));
      expect_op(":");
      e->values.push_back(parse_expression(true));
    }
    expect_op("}");
    return finish(std::move(e));
  }
  if (t.type == TokenType::kEof) fail(t, "unexpected end of template");
  fail(t, "unexpected " + quote_tok(t));
}

ExprPtr ParserBase::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(cur(), ".") || is_op(cur(), "[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op(cur(), "(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr ParserBase::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op(cur(), "|")) {
      e = parse_filter(std::move(e), false);
    } else if (is_name(cur(), "is")) {
      e = parse_test(std::move(e));
    } else if (is_op(cur(), "(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr ParserBase::parse_subscript(ExprPtr subject) {
  const Token& t = advance();
  if (t.value == ".") {
    const Token& attr = cur();
    if (attr.type == TokenType::kName) {
      advance();
      auto e = node(ExprKind::kGetattr, t.offset);
      e->a = std::move(subject);
      e->name = attr.value;
      return finish(std::move(e));
    }
    if (attr.type != TokenType::kInteger) fail(attr, "expected name or number");
    advance();
    auto e = node(ExprKind::kGetitem, t.offset);
    e->a = std::move(subject);
    e->b = node(ExprKind::kConst, attr.offset);
    e->b->constant = Value::integer(attr.int_value);
    return finish(std::move(e));
  }
  std::vector<ExprPtr> args;
  while (!is_op(cur(), "]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto e = node(ExprKind::kGetitem, t.offset);
  e->a = std::move(subject);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    e->b = node(ExprKind::kTuple, t.offset);
    e->b->items = std::move(args);
    e->b = finish(std::move(e->b));
  }
  return finish(std::move(e));
}

ExprPtr ParserBase::parse_subscribed() {
  const size_t offset = cur().offset;
  auto slice = node(ExprKind::kSlice, offset);
  if (is_op(cur(), ":")) {
    advance();
  } else {
    ExprPtr start = parse_expression(true);
    if (!is_op(cur(), ":")) return start;
    advance();
    slice->a = std::move(start);
  }
  if (!is_op(cur(), ":") && !is_op(cur(), "]") && !is_op(cur(), ",")) slice->b = parse_expression(true);
  if (is_op(cur(), ":")) {
    advance();
    if (!is_op(cur(), "]") && !is_op(cur(), ",")) slice->c = parse_expression(true);
  }
  return finish(std::move(slice));
}

CallSite ParserBase::parse_call_args() {
  const Token& open = expect_op("(");
  CallSite call;
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail(open, "invalid syntax for function call expression");
  };
  while (!is_op(cur(), ")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(cur(), ")")) break;
    }
    if (is_op(cur(), "*")) {
      ensure(!call.dyn_args && !call.dyn_kwargs);
      advance();
      call.dyn_args = parse_expression(true);
    } else if (is_op(cur(), "**")) {
      ensure(!call.dyn_kwargs);
      advance();
      call.dyn_kwargs = parse_expression(true);
    } else if (cur().type == TokenType::kName && is_op(look(), "=")) {
      ensure(!call.dyn_kwargs);
      std::string key = advance().value;
      advance();
      call.kwargs.push_back({std::move(key), parse_expression(true)});
    } else {
      ensure(!call.dyn_args && !call.dyn_kwargs && call.kwargs.empty());
      call.args.push_back(parse_expression(true));
    }
    require_comma = true;
  }
  expect_op(")");
  return call;
}

ExprPtr ParserBase::parse_call(ExprPtr callee) {
  auto e = node(ExprKind::kCall, callee->offset);  // errors of a call point at what is called
  e->call = parse_call_args();
  e->a = std::move(callee);
  return finish(std::move(e));
}

std::string ParserBase::parse_dotted_name() {
  std::string name = expect_name().value;
  while (is_op(cur(), ".")) {
    advance();
    name += "." + expect_name().value;
  }
  return name;
}

ExprPtr ParserBase::parse_filter(ExprPtr subject, bool start_inline) {
  while (is_op(cur(), "|") || start_inline) {
    if (!start_inline) advance();
    start_inline = false;
    auto e = node(ExprKind::kFilter, cur().offset);
    e->name = parse_dotted_name();
    if (is_op(cur(), "(")) e->call = parse_call_args();
    e->a = std::move(subject);
    subject = finish(std::move(e));
  }
  return subject;
}

ExprPtr ParserBase::parse_test(ExprPtr subject) {
  const Token& is_tok = advance();
  const bool negated = skip_name("not");
  auto e = node(ExprKind::kTest, is_tok.offset);
  e->name = parse_dotted_name();
  const Token& t = cur();
  if (is_op(t, "(")) {
    e->call = parse_call_args();
  } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
              t.type == TokenType::kFloat || is_op(t, "[") || is_op(t, "{")) &&
             !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
    if (is_name(t, "is")) fail(t, "You cannot chain multiple tests with is");
    e->call.args.push_back(parse_postfix(parse_primary()));
  }
  e->a = std::move(subject);
  if (!negated) return finish(std::move(e));
  auto n = node(ExprKind::kNot, is_tok.offset);
  n->a = finish(std::move(e));
  return finish(std::move(n));
}
}  // namespace vlm::text::jinja
