#include "text/jinja_interpreter.h"

#include "text/jinja_builtins.h"
#include "text/jinja_methods.h"
#include "text/jinja_operators.h"

namespace vlm::text::jinja {

std::shared_ptr<Scope> make_scope(std::shared_ptr<Scope> parent) {
  Scope s;
  s.parent = std::move(parent);
  return make_deferred(std::move(s));
}

namespace {

// A {% macro %} (or the body of a {% call %} block, seen as `caller`) with the scope it was defined in.
class Macro : public Callable {
 public:
  Macro(const Stmt& stmt, std::shared_ptr<Scope> closure, Value caller)
      : stmt_(stmt), closure_(std::move(closure)), caller_(std::move(caller)) {}
  Value call(Interpreter& in, CallArgs args) const override {
    return Value::string(
        in.run_macro(stmt_, closure_, std::move(args), caller_.is_undefined() ? nullptr : &caller_));
  }
  std::string repr() const override {
    return "<Macro '" + (stmt_.name.empty() ? "caller" : stmt_.name) + "'>";
  }

 private:
  const Stmt& stmt_;
  std::shared_ptr<Scope> closure_;
  Value caller_;
};

// Pushes a capture buffer for the lifetime of the guard.
struct OutputGuard {
  std::vector<TrackedString*>& stack;
  OutputGuard(std::vector<TrackedString*>& s, TrackedString* buffer) : stack(s) { stack.push_back(buffer); }
  ~OutputGuard() { stack.pop_back(); }
};

}  // namespace

Interpreter::Interpreter(const SourceMap& source, const JinjaLimits& limits, std::time_t now)
    : source_(source), limits_(limits), now_(now), globals_(make_globals()) {}

Interpreter::~Interpreter() {
  // Break reference cycles (a namespace holding itself, a macro stored in the scope it closes over).
  for (auto& w : namespaces_)
    if (auto p = w.lock()) static_cast<Dict*>(p.get())->clear();
  for (auto& w : captured_scopes_)
    if (auto s = w.lock()) s->vars.clear();
}

void Interpreter::fail_at(size_t offset, ErrorKind kind, const std::string& message) const {
  throw JinjaError(kind, source_.origin(), source_.loc(offset), message);
}

void Interpreter::count_steps(uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps)
    raise(ErrorKind::kLimit, str("evaluation exceeded ", limits_.max_steps, " steps"));
}

void Interpreter::count_iteration() {
  if (++iterations_ > limits_.max_loop_iterations)
    raise(ErrorKind::kLimit,
          str("more than ", limits_.max_loop_iterations, " loop iterations and macro calls"));
}

void Interpreter::check_string_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    raise(ErrorKind::kLimit, str("a string or the output would exceed ", limits_.max_output_bytes, " bytes"));
}

Value Interpreter::make_namespace(Dict attrs) {
  Value ns = Value::new_namespace(std::move(attrs));
  namespaces_.push_back(ns.weak_ref());
  return ns;
}

TrackedString Interpreter::render(const StmtList& body, std::unordered_map<std::string, Value> variables) {
  const int previous_limit = NestingGuard::set_limit(limits_.max_data_depth);
  const ValueBudget previous_budget =
      ValueBudget::set({limits_.max_output_bytes, limits_.max_loop_iterations});
  struct Restore {
    int limit;
    ValueBudget budget;
    ~Restore() {
      NestingGuard::set_limit(limit);
      ValueBudget::set(budget);
    }
  } restore{previous_limit, previous_budget};
  scope_ = make_scope(nullptr);
  scope_->vars = std::move(variables);
  captured_scopes_.push_back(scope_);
  TrackedString out;
  OutputGuard guard(out_stack_, &out);
  try {
    exec_block(body);
  } catch (const Failure& f) {
    throw JinjaError(f.kind, source_.origin(), {}, f.message);
  }
  return out;
}

// ---- output -----------------------------------------------------------------------------------------------

void Interpreter::emit(const TrackedString& s) {
  TrackedString& out = *out_stack_.back();
  check_string_size(out.size() + s.size());
  out.append(s);
}

void Interpreter::emit_text(const std::string& s) {
  emit(TrackedString(s));
}

TrackedString Interpreter::capture(const StmtList& body) {
  if (static_cast<int>(out_stack_.size()) > limits_.max_recursion_depth)
    raise(ErrorKind::kLimit,
          str("blocks and macro calls are nested deeper than ", limits_.max_recursion_depth, " levels"));
  TrackedString buffer;
  {
    OutputGuard guard(out_stack_, &buffer);
    exec_block(body);
  }
  return buffer;
}

// ---- statements -------------------------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_block(const StmtList& body) {
  for (const auto& s : body) {
    const Flow f = exec(s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  try {
    switch (s.kind) {
      case StmtKind::kOutput:
        exec_output(s);
        break;
      case StmtKind::kFor:
        return exec_for(s);
      case StmtKind::kIf: {
        const bool test = truthy(eval(*s.expr));
        return exec_block(test ? s.body : s.else_body);
      }
      case StmtKind::kSet:
        exec_set(s);
        break;
      case StmtKind::kSetBlock:
        exec_set_block(s);
        break;
      case StmtKind::kMacro:
        exec_macro(s);
        break;
      case StmtKind::kCallBlock:
        exec_call_block(s);
        break;
      case StmtKind::kFilterBlock:
        exec_filter_block(s);
        break;
      case StmtKind::kWith:
        exec_with(s);
        break;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kGeneration:
        exec_generation(s);
        break;
    }
  } catch (const Failure& f) {
    fail_at(s.offset, f.kind, f.message);
  }
  return Flow::kNormal;
}

void Interpreter::exec_output(const Stmt& s) {
  for (const auto& piece : s.output) {
    if (!piece.expr) {
      emit_text(piece.data);
      continue;
    }
    const Value v = eval(*piece.expr);
    emit(to_str(v));
  }
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  const Value iterable = eval(*s.expr);
  ValueList items = iterate(iterable);
  count_steps(items.size());
  if (s.filter_test) {
    // The inline filter sees the loop variables but no `loop`.
    ValueList kept;
    for (auto& item : items) {
      count_iteration();
      auto saved = scope_;
      scope_ = make_scope(saved);
      struct Restore {
        Interpreter* in;
        std::shared_ptr<Scope> scope;
        ~Restore() { in->scope_ = scope; }
      } restore{this, saved};
      assign(s.target, item);
      if (truthy(eval(*s.filter_test))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_block(s.else_body);
  auto loop = std::make_shared<LoopInfo>();
  loop->items = std::make_shared<const ValueList>(std::move(items));
  const Value loop_value = Value::loop(loop);
  auto saved = scope_;
  struct Restore {
    Interpreter* in;
    std::shared_ptr<Scope> scope;
    ~Restore() { in->scope_ = scope; }
  } restore{this, saved};
  for (size_t i = 0; i < loop->items->size(); ++i) {
    count_iteration();
    loop->index0 = i;
    scope_ = make_scope(saved);
    scope_->vars["loop"] = loop_value;
    assign(s.target, (*loop->items)[i]);
    if (exec_block(s.body) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::assign(const Target& target, const Value& value) {
  switch (target.kind) {
    case Target::Kind::kName:
      scope_->vars[target.name] = value;
      return;
    case Target::Kind::kNamespaceAttr: {
      const Value ns = lookup(target.name);
      if (!ns.is_namespace())
        fail_at(target.offset, ErrorKind::kRuntime, "cannot assign attribute on non-namespace object");
      ns.namespace_attrs().set(Value::string(target.attr), value);
      return;
    }
    case Target::Kind::kTuple: {
      ValueList items;
      try {
        items = iterate(value);
      } catch (const Failure& f) {
        fail_at(target.offset, ErrorKind::kRuntime,
                "cannot unpack non-iterable " + type_name(value) + " object");
      }
      if (items.size() != target.items.size()) {
        fail_at(target.offset, ErrorKind::kRuntime,
                items.size() < target.items.size()
                    ? str("not enough values to unpack (expected ", target.items.size(), ", got ",
                          items.size(), ")")
                    : str("too many values to unpack (expected ", target.items.size(), ")"));
      }
      for (size_t i = 0; i < items.size(); ++i) assign(target.items[i], items[i]);
      return;
    }
  }
}

void Interpreter::exec_set(const Stmt& s) {
  assign(s.target, eval(*s.expr));
}

void Interpreter::exec_set_block(const Stmt& s) {
  Value v = Value::string(capture(s.body));
  if (s.filter_test) v = eval_filter_chain(*s.filter_test, v);
  assign(s.target, v);
}

void Interpreter::exec_macro(const Stmt& s) {
  captured_scopes_.push_back(scope_);
  scope_->vars[s.name] = Value::callable(std::make_shared<Macro>(s, scope_, Value()));
}

void Interpreter::exec_call_block(const Stmt& s) {
  captured_scopes_.push_back(scope_);
  // The block body becomes `caller`, a macro with the call block's parameters.
  const Value caller = Value::callable(std::make_shared<Macro>(s, scope_, Value()));
  const Expr& call_expr = *s.expr;
  const Value callee = eval(*call_expr.a);
  CallArgs args = eval_args(call_expr.call);
  if (!callee.is_callable()) {
    if (callee.is_undefined()) fail_undefined(callee);
    type_error("'" + type_name(callee) + "' object is not callable");
  }
  args.keyword.emplace_back("caller", caller);
  emit(to_str(call(callee, std::move(args))));
}

void Interpreter::exec_filter_block(const Stmt& s) {
  const Value body = Value::string(capture(s.body));
  emit(to_str(eval_filter_chain(*s.expr, body)));
}

void Interpreter::exec_with(const Stmt& s) {
  // Values are evaluated in the outer scope, then bound in a new one.
  ValueList values;
  for (const auto& v : s.with_values) values.push_back(eval(*v));
  auto saved = scope_;
  scope_ = make_scope(saved);
  struct Restore {
    Interpreter* in;
    std::shared_ptr<Scope> scope;
    ~Restore() { in->scope_ = scope; }
  } restore{this, saved};
  for (size_t i = 0; i < values.size(); ++i) assign(s.with_targets[i], values[i]);
  exec_block(s.body);
}

// transformers' AssistantTracker: the block renders its body and records (start, start + length) where start
// is the size of the root output so far (transformers 5 records every block; older versions skipped blocks
// rendered before any output).
void Interpreter::exec_generation(const Stmt& s) {
  const TrackedString body = capture(s.body);
  const size_t start = out_stack_.front()->size();
  generation_spans_.push_back({start, start + body.size()});
  emit(body);
}

TrackedString Interpreter::run_macro(const Stmt& macro, const std::shared_ptr<Scope>& closure, CallArgs args,
                                     const Value* caller) {
  count_iteration();
  if (++call_depth_ > limits_.max_recursion_depth) {
    --call_depth_;
    raise(ErrorKind::kLimit,
          str("macro calls are nested deeper than ", limits_.max_recursion_depth, " levels"));
  }
  struct Depth {
    int& d;
    ~Depth() { --d; }
  } depth{call_depth_};
  const std::string name = macro.name.empty() ? "caller" : macro.name;
  const size_t n = macro.params.size();
  if (args.positional.size() > n)
    type_error(str("macro '", name, "' takes not more than ", n, " argument(s)"));
  auto scope = make_scope(closure);
  std::vector<bool> bound(n, false);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    scope->vars[macro.params[i]] = std::move(args.positional[i]);
    bound[i] = true;
  }
  for (auto& [key, value] : args.keyword) {
    size_t k = 0;
    while (k < n && macro.params[k] != key) ++k;
    if (k == n) {
      if (key == "caller") {
        scope->vars["caller"] = std::move(value);
        continue;
      }
      type_error(str("macro '", name, "' takes no keyword argument '", key, "'"));
    }
    if (bound[k]) type_error(str("macro '", name, "' got multiple values for argument '", key, "'"));
    scope->vars[key] = std::move(value);
    bound[k] = true;
  }
  if (caller) scope->vars["caller"] = *caller;
  auto saved = scope_;
  struct Restore {
    Interpreter* in;
    std::shared_ptr<Scope> scope;
    ~Restore() { in->scope_ = scope; }
  } restore{this, saved};
  scope_ = scope;
  // Defaults are evaluated at call time, in the macro's scope, left to right.
  const size_t first_default = n - macro.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) continue;
    scope->vars[macro.params[i]] =
        i >= first_default ? eval(*macro.defaults[i - first_default])
                           : Value::undefined(str("parameter '", macro.params[i], "' was not provided"));
  }
  return capture(macro.body);
}

}  // namespace vlm::text::jinja
