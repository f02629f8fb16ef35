// Expression evaluation of the Interpreter: names, attributes and items, calls, filters, tests, operators.
#include "text/jinja_builtins.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_methods.h"
#include "text/jinja_operators.h"

namespace vlm::text::jinja {

Value Interpreter::eval(const Expr& e) {
  try {
    count_steps(1);
    return eval_node(e);
  } catch (const Failure& f) {
    fail_at(e.offset, f.kind, f.message);
  }
}

Value Interpreter::lookup(const std::string& name) const {
  for (const Scope* s = scope_.get(); s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  auto it = globals_.find(name);
  if (it != globals_.end()) return it->second;
  return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::eval_node(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.constant;
    case ExprKind::kName:
      return lookup(e.name);
    case ExprKind::kGetattr:
      return get_attribute(eval(*e.a), e.name);
    case ExprKind::kGetitem: {
      const Value subject = eval(*e.a);
      if (e.b->kind == ExprKind::kSlice) return eval_slice(subject, *e.b);
      return get_item(subject, eval(*e.b));
    }
    case ExprKind::kSlice:
      type_error("slices are only supported directly inside []");
    case ExprKind::kCall:
      return eval_call(e);
    case ExprKind::kFilter: {
      if (!e.a) type_error("filter without a value");
      return eval_filter(e, eval(*e.a));
    }
    case ExprKind::kTest:
      return eval_test(e);
    case ExprKind::kNeg:
      return negate(eval(*e.a));
    case ExprKind::kPos:
      return unary_plus(eval(*e.a));
    case ExprKind::kBinary: {
      const Value a = eval(*e.a);
      const Value b = eval(*e.b);
      Value r = binary_op(e.name, a, b, limits_.max_output_bytes);
      if (r.is_sequence()) count_steps(r.as_list().size());
      return r;
    }
    case ExprKind::kConcat: {
      TrackedString out;
      for (const auto& item : e.items) {
        out.append(to_str(eval(*item)));
        check_string_size(out.size());
      }
      return Value::string(std::move(out));
    }
    case ExprKind::kCompare:
      return eval_compare(e);
    case ExprKind::kAnd: {
      Value left = eval(*e.a);
      return truthy(left) ? eval(*e.b) : left;
    }
    case ExprKind::kOr: {
      Value left = eval(*e.a);
      return truthy(left) ? left : eval(*e.b);
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*e.a)));
    case ExprKind::kCondExpr:
      if (truthy(eval(*e.a))) return eval(*e.b);
      if (e.c) return eval(*e.c);
      return Value::undefined(str("the inline if-expression on line ", source_.loc(e.offset).line,
                                  " evaluated to false and no else section was defined."));
    case ExprKind::kList:
    case ExprKind::kTuple: {
      ValueList items;
      items.reserve(e.items.size());
      for (const auto& item : e.items) items.push_back(eval(*item));
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i < e.items.size(); ++i) {
        Value key = eval(*e.items[i]);
        if (key.is_list() || key.is_dict() || key.is_undefined())
          type_error("unhashable type: '" + type_name(key) + "'");
        d.set(std::move(key), eval(*e.values[i]));
      }
      return Value::dict(std::move(d));
    }
  }
  type_error("unknown expression");
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.items[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.items[i + 1]);
    const std::string& op = e.ops[i];
    bool ok;
    if (op == "==") {
      ok = equals(left, right);
    } else if (op == "!=") {
      ok = !equals(left, right);
    } else if (op == "in") {
      ok = contains(right, left);
    } else if (op == "notin") {
      ok = !contains(right, left);
    } else {
      const int c = compare(left, right, op.c_str());
      if (op == "<")
        ok = c == -1;
      else if (op == "<=")
        ok = c == -1 || c == 0;
      else if (op == ">")
        ok = c == 1;
      else
        ok = c == 1 || c == 0;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_slice(const Value& subject, const Expr& s) {
  auto bound = [&](const ExprPtr& p) -> std::optional<std::optional<int64_t>> {
    if (!p) return std::optional<int64_t>();
    const Value v = eval(*p);
    if (v.is_none()) return std::optional<int64_t>();
    if (v.is_int() || v.is_bool()) return std::optional<int64_t>(v.as_int());
    return std::nullopt;  // not an index: Python raises TypeError, jinja2 then yields Undefined
  };
  const auto start = bound(s.a), stop = bound(s.b), step = bound(s.c);
  if (subject.is_undefined()) fail_undefined(subject);
  if (start && stop && step) {
    if (auto r = slice(subject, *start, *stop, *step)) {
      if (r->is_sequence()) count_steps(r->as_list().size());
      return *r;
    }
  }
  return Value::undefined(object_type_repr(subject) + " has no element slice");
}

CallArgs Interpreter::eval_args(const CallSite& call) {
  CallArgs args;
  for (const auto& a : call.args) args.positional.push_back(eval(*a));
  for (const auto& k : call.kwargs) args.keyword.emplace_back(k.name, eval(*k.value));
  if (call.dyn_args) {
    for (auto& v : iterate(eval(*call.dyn_args))) args.positional.push_back(std::move(v));
  }
  if (call.dyn_kwargs) {
    const Value d = eval(*call.dyn_kwargs);
    if (!d.is_dict()) type_error("argument after ** must be a mapping, not " + type_name(d));
    for (const auto& [k, v] : d.as_dict().items()) {
      if (!k.is_string()) type_error("keywords must be strings");
      args.keyword.emplace_back(k.as_string(), v);
    }
  }
  return args;
}

Value Interpreter::call(const Value& callee, CallArgs args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_callable()) type_error("'" + type_name(callee) + "' object is not callable");
  count_steps(1 + args.positional.size());
  return callee.as_callable().call(*this, std::move(args));
}

Value Interpreter::eval_call(const Expr& e) {
  const Value callee = eval(*e.a);
  CallArgs args = eval_args(e.call);
  return call(callee, std::move(args));
}

Value Interpreter::apply_filter(const std::string& name, Value subject, CallArgs args) {
  const FilterFn fn = find_filter(name);
  if (!fn) type_error("No filter named '" + name + "'.");
  count_steps(1);
  return fn(*this, subject, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& subject, CallArgs args) {
  const TestFn fn = find_test(name);
  if (!fn) type_error("No test named '" + name + "'.");
  count_steps(1);
  return fn(*this, subject, args);
}

Value Interpreter::eval_filter_chain(const Expr& e, Value subject) {
  if (e.a) subject = eval_filter_chain(*e.a, std::move(subject));
  return eval_filter(e, std::move(subject));
}

Value Interpreter::eval_filter(const Expr& e, Value subject) {
  const FilterFn fn = find_filter(e.name);
  if (!fn) fail_at(e.offset, ErrorKind::kRuntime, "No filter named '" + e.name + "'.");
  CallArgs args = eval_args(e.call);
  try {
    count_steps(1);
    return fn(*this, subject, args);
  } catch (const Failure& f) {
    fail_at(e.offset, f.kind, f.message);
  }
}

Value Interpreter::eval_test(const Expr& e) {
  const Value subject = eval(*e.a);
  const TestFn fn = find_test(e.name);
  if (!fn) fail_at(e.offset, ErrorKind::kRuntime, "No test named '" + e.name + "'.");
  CallArgs args = eval_args(e.call);
  return Value::boolean(fn(*this, subject, args));
}

}  // namespace vlm::text::jinja
