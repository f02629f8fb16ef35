#include "text/jinja_parser.h"

#include <algorithm>

#include "text/jinja_parser_base.h"

namespace vlm::text::jinja {

namespace {

// Statements and assignment targets; expressions come from ParserBase.
class TemplateParser : public ParserBase {
 public:
  using ParserBase::ParserBase;

  StmtList parse() {
    StmtList body = subparse({});
    if (cur().type != TokenType::kEof) fail(cur(), "unexpected " + quote_tok(cur()));
    return body;
  }

 private:
  StmtList subparse(const Names& end_names);
  StmtList parse_statements(const Names& end_names, bool drop_needle);
  [[noreturn]] void fail_eof(const Names& end_names);
  [[noreturn]] void fail_unknown_tag(const std::string* name, const Token& at);
  Stmt parse_statement();
  Stmt parse_for();
  Stmt parse_if();
  Stmt parse_set();
  void parse_signature(Stmt& s);

  // Macro and call bodies start a new function: break/continue there cannot reach an enclosing loop.
  StmtList parse_function_body(const char* end_name);
  Stmt parse_macro();
  Stmt parse_call_block();
  Stmt parse_filter_block();
  Stmt parse_with();

  // ---- assignment targets ---------------------------------------------------------------------------------
  void check_assignable_name(const Token& t) const;
  Target parse_assign_target(bool with_tuple, bool name_only, const Names& extra_end, bool with_namespace);
  Target parse_target_primary(bool with_namespace);

  int loop_depth_ = 0;
  std::vector<std::string> tag_stack_;
  std::vector<Names> end_stack_;
};

StmtList TemplateParser::subparse(const Names& end_names) {
  DepthGuard guard(*this);
  if (!end_names.empty()) end_stack_.push_back(end_names);
  StmtList body;
  auto output_stmt = [&]() -> Stmt& {
    if (body.empty() || body.back().kind != StmtKind::kOutput) {
      Stmt s;
      s.kind = StmtKind::kOutput;
      s.offset = cur().offset;
      body.push_back(std::move(s));
    }
    return body.back();
  };
  while (cur().type != TokenType::kEof) {
    const Token& t = cur();
    if (t.type == TokenType::kData) {
      output_stmt().output.push_back({t.value, nullptr});
      advance();
    } else if (t.type == TokenType::kVariableBegin) {
      advance();
      ExprPtr e = parse_tuple(false, true, {}, false);
      output_stmt().output.push_back({"", std::move(e)});
      expect_type(TokenType::kVariableEnd, "end of print statement");
    } else if (t.type == TokenType::kBlockBegin) {
      advance();
      if (!end_names.empty() && at_end_tag(end_names)) {
        end_stack_.pop_back();
        return body;
      }
      body.push_back(parse_statement());
      expect_block_end();
    } else {
      fail(t, "unexpected " + quote_tok(t));
    }
  }
  if (!end_names.empty()) end_stack_.pop_back();
  return body;
}

StmtList TemplateParser::parse_statements(const Names& end_names, bool drop_needle) {
  skip_op(":");
  expect_block_end();
  StmtList body = subparse(end_names);
  if (cur().type == TokenType::kEof) fail_eof(end_names);
  if (drop_needle) advance();
  return body;
}

void TemplateParser::fail_eof(const Names& end_names) {
  end_stack_.push_back(end_names);
  fail_unknown_tag(nullptr, cur());
}

void TemplateParser::fail_unknown_tag(const std::string* name, const Token& at) {
  std::string message = name ? "Encountered unknown tag '" + *name + "'." : "Unexpected end of template.";
  if (!end_stack_.empty()) {
    std::string looking;
    for (const char* n : end_stack_.back())
      looking += (looking.empty() ? "'" : " or '") + std::string(n) + "'";
    bool expected = false;
    for (const auto& names : end_stack_)
      for (const char* n : names) expected |= name && *name == n;
    message += expected ? " You probably made a nesting mistake. Jinja is expecting this tag, but currently "
                          "looking for " +
                              looking + "."
                        : " Jinja was looking for the following tags: " + looking + ".";
  }
  if (!tag_stack_.empty())
    message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  fail(at, message);
}

Stmt TemplateParser::parse_statement() {
  const Token& t = cur();
  if (t.type != TokenType::kName) fail(t, "tag name expected");
  const std::string tag = t.value;
  static const char* const kLoaders[] = {"include", "import", "from", "extends", "block"};
  for (const char* l : kLoaders) {
    if (tag == l) {
      throw JinjaError(ErrorKind::kSecurity, map_.origin(), map_.loc(t.offset),
                       "'" + tag + "' is not supported: chat templates cannot load other templates");
    }
  }
  tag_stack_.push_back(tag);
  Stmt s;
  if (tag == "for") {
    s = parse_for();
  } else if (tag == "if") {
    s = parse_if();
  } else if (tag == "set") {
    s = parse_set();
  } else if (tag == "macro") {
    s = parse_macro();
  } else if (tag == "call") {
    s = parse_call_block();
  } else if (tag == "filter") {
    s = parse_filter_block();
  } else if (tag == "with") {
    s = parse_with();
  } else if (tag == "print") {
    s.kind = StmtKind::kOutput;
    s.offset = advance().offset;
    s.output.push_back({"", parse_tuple(false, true, {}, false)});
  } else if (tag == "break" || tag == "continue") {
    s.kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    s.offset = advance().offset;
    if (loop_depth_ == 0) fail_offset(s.offset, "'" + tag + "' outside of a loop");
  } else if (tag == "generation") {
    s.kind = StmtKind::kGeneration;
    s.offset = advance().offset;
    s.body = parse_statements({"endgeneration"}, true);
  } else {
    tag_stack_.pop_back();
    fail_unknown_tag(&tag, t);
  }
  tag_stack_.pop_back();
  return s;
}

Stmt TemplateParser::parse_for() {
  Stmt s;
  s.kind = StmtKind::kFor;
  s.offset = advance().offset;
  s.target = parse_assign_target(true, false, {"in"}, false);
  expect_keyword("in");
  s.expr = parse_tuple(false, false, {"recursive"}, false);
  if (skip_name("if")) s.filter_test = parse_expression(true);
  if (is_name(cur(), "recursive")) fail(cur(), "recursive loops are not supported");
  ++loop_depth_;
  s.body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (advance().value != "endfor") s.else_body = parse_statements({"endfor"}, true);
  return s;
}

Stmt TemplateParser::parse_if() {
  Stmt root;
  root.kind = StmtKind::kIf;
  root.offset = advance().offset;
  Stmt* current = &root;
  while (true) {
    current->expr = parse_tuple(false, false, {}, false);
    current->body = parse_statements({"elif", "else", "endif"}, false);
    const Token& t = advance();
    if (t.value == "elif") {
      Stmt next;
      next.kind = StmtKind::kIf;
      next.offset = t.offset;
      current->else_body.push_back(std::move(next));
      current = &current->else_body.back();
      continue;
    }
    if (t.value == "else") current->else_body = parse_statements({"endif"}, true);
    break;
  }
  return root;
}

Stmt TemplateParser::parse_set() {
  Stmt s;
  s.offset = advance().offset;
  s.target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    s.kind = StmtKind::kSet;
    s.expr = parse_tuple(false, true, {}, false);
    return s;
  }
  s.kind = StmtKind::kSetBlock;
  s.filter_test = parse_filter(nullptr, false);
  s.body = parse_statements({"endset"}, true);
  return s;
}

void TemplateParser::parse_signature(Stmt& s) {
  expect_op("(");
  while (!is_op(cur(), ")")) {
    if (!s.params.empty()) expect_op(",");
    const Token& name = expect_name();
    check_assignable_name(name);
    if (skip_op("=")) {
      s.defaults.push_back(parse_expression(true));
    } else if (!s.defaults.empty()) {
      fail(name, "non-default argument follows default argument");
    }
    s.params.push_back(name.value);
  }
  expect_op(")");
}

StmtList TemplateParser::parse_function_body(const char* end_name) {
  const int saved = loop_depth_;
  loop_depth_ = 0;
  StmtList body = parse_statements({end_name}, true);
  loop_depth_ = saved;
  return body;
}

Stmt TemplateParser::parse_macro() {
  Stmt s;
  s.kind = StmtKind::kMacro;
  s.offset = advance().offset;
  const Token& name = expect_name();
  check_assignable_name(name);
  s.name = name.value;
  parse_signature(s);
  s.body = parse_function_body("endmacro");
  return s;
}

Stmt TemplateParser::parse_call_block() {
  Stmt s;
  s.kind = StmtKind::kCallBlock;
  s.offset = advance().offset;
  if (is_op(cur(), "(")) parse_signature(s);
  s.expr = parse_expression(true);
  if (s.expr->kind != ExprKind::kCall) fail_offset(s.offset, "expected call");
  s.body = parse_function_body("endcall");
  return s;
}

Stmt TemplateParser::parse_filter_block() {
  Stmt s;
  s.kind = StmtKind::kFilterBlock;
  s.offset = advance().offset;
  s.expr = parse_filter(nullptr, true);
  s.body = parse_statements({"endfilter"}, true);
  return s;
}

Stmt TemplateParser::parse_with() {
  Stmt s;
  s.kind = StmtKind::kWith;
  s.offset = advance().offset;
  while (cur().type != TokenType::kBlockEnd) {
    if (!s.with_targets.empty()) expect_op(",");
    s.with_targets.push_back(parse_assign_target(true, false, {}, false));
    expect_op("=");
    s.with_values.push_back(parse_expression(true));
  }
  s.body = parse_statements({"endwith"}, true);
  return s;
}

void TemplateParser::check_assignable_name(const Token& t) const {
  static const char* const kConsts[] = {"true", "false", "none", "True", "False", "None"};
  for (const char* c : kConsts)
    if (t.value == c) fail(t, "can't assign to 'const'");
}

Target TemplateParser::parse_assign_target(bool with_tuple, bool name_only, const Names& extra_end,
                                           bool with_namespace) {
  if (name_only) {
    const Token& t = expect_name();
    check_assignable_name(t);
    return Target{Target::Kind::kName, t.value, "", {}, t.offset};
  }
  if (!with_tuple) return parse_target_primary(with_namespace);
  Target tuple{Target::Kind::kTuple, "", "", {}, cur().offset};
  bool is_tuple = false;
  while (true) {
    if (!tuple.items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    tuple.items.push_back(parse_target_primary(with_namespace));
    if (is_op(cur(), ",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (tuple.items.empty()) fail(cur(), "Expected an expression, got " + quote_tok(cur()));
    return std::move(tuple.items[0]);
  }
  return tuple;
}

Target TemplateParser::parse_target_primary(bool with_namespace) {
  DepthGuard guard(*this);
  const Token& t = cur();
  if (t.type == TokenType::kName) {
    check_assignable_name(t);
    advance();
    if (with_namespace && is_op(cur(), ".")) {
      advance();
      const Token& attr = expect_name();
      return Target{Target::Kind::kNamespaceAttr, t.value, attr.value, {}, t.offset};
    }
    return Target{Target::Kind::kName, t.value, "", {}, t.offset};
  }
  if (is_op(t, "(")) {
    advance();
    Target inner = parse_assign_target(true, false, {}, false);
    expect_op(")");
    return inner;
  }
  fail(t, "can't assign to " + quote_tok(t));
}
}  // namespace

StmtList parse_template(const SourceMap& source, const std::vector<Token>& tokens, ParseLimits limits) {
  return TemplateParser(source, tokens, limits).parse();
}

}  // namespace vlm::text::jinja
