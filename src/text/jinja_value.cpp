#include "text/jinja_value.h"

#include <cmath>
#include <cstdio>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

// ---- construction -----------------------------------------------------------------------------------------

Value Value::undefined(std::string message, ErrorKind kind) {
  Value v;
  if (!message.empty()) v.ref_ = std::make_shared<UndefinedInfo>(UndefinedInfo{std::move(message), kind});
  return v;
}

Value Value::none() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.scalar_.b = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.scalar_.i = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.type_ = Type::kFloat;
  v.scalar_.f = f;
  return v;
}

Value Value::string(TrackedString s) {
  Value v;
  v.type_ = Type::kString;
  v.ref_ = std::make_shared<TrackedString>(std::move(s));
  return v;
}

Value Value::string(std::string s, bool content) {
  return string(TrackedString(std::move(s), content));
}

Value Value::list(ValueList items) {
  Value v;
  v.type_ = Type::kList;
  v.ref_ = make_deferred(std::move(items));
  return v;
}

Value Value::tuple(ValueList items) {
  Value v = list(std::move(items));
  v.type_ = Type::kTuple;
  return v;
}

Value Value::dict(Dict d) {
  Value v;
  v.type_ = Type::kDict;
  v.ref_ = make_deferred(std::move(d));
  return v;
}

Value Value::new_namespace(Dict attrs) {
  Value v = dict(std::move(attrs));
  v.type_ = Type::kNamespace;
  return v;
}

Value Value::callable(std::shared_ptr<const Callable> c) {
  Value v;
  v.type_ = Type::kCallable;
  v.ref_ = std::const_pointer_cast<Callable>(std::move(c));
  return v;
}

Value Value::loop(std::shared_ptr<LoopInfo> l) {
  Value v;
  v.type_ = Type::kLoop;
  v.ref_ = std::move(l);
  return v;
}

Value Value::generator(ValueList items, std::string name) {
  Value v;
  v.type_ = Type::kGenerator;
  v.ref_ = make_deferred(GeneratorState{std::move(items), 0, std::move(name)});
  return v;
}

double Value::as_double() const {
  switch (type_) {
    case Type::kBool:
      return scalar_.b ? 1.0 : 0.0;
    case Type::kInt:
      return static_cast<double>(scalar_.i);
    case Type::kFloat:
      return scalar_.f;
    default:
      return 0.0;
  }
}

// ---- deferred deletion and nesting bounds -----------------------------------------------------------------

namespace {
thread_local std::vector<std::pair<void*, void (*)(void*)>> t_trash;
thread_local bool t_draining = false;
thread_local int t_nesting = 0;
thread_local int t_nesting_limit = 256;
thread_local ValueBudget t_budget;
}  // namespace

ValueBudget ValueBudget::set(ValueBudget budget) {
  const ValueBudget previous = t_budget;
  t_budget = budget;
  return previous;
}

void ValueBudget::check_bytes(size_t bytes) {
  if (bytes > t_budget.max_bytes)
    raise(ErrorKind::kLimit, str("a string would exceed ", t_budget.max_bytes, " bytes"));
}

void ValueBudget::check_items(size_t items) {
  if (items > t_budget.max_items)
    raise(ErrorKind::kLimit, str("a list would exceed ", t_budget.max_items, " items"));
}

void deferred_delete(void* object, void (*destroy)(void*)) {
  t_trash.emplace_back(object, destroy);
  if (t_draining) return;
  t_draining = true;
  while (!t_trash.empty()) {
    auto [p, d] = t_trash.back();
    t_trash.pop_back();
    d(p);
  }
  t_draining = false;
}

NestingGuard::NestingGuard() {
  if (++t_nesting > t_nesting_limit) {
    --t_nesting;
    raise(ErrorKind::kLimit, str("data is nested deeper than ", t_nesting_limit, " levels"));
  }
}
NestingGuard::~NestingGuard() {
  --t_nesting;
}
int NestingGuard::set_limit(int limit) {
  const int previous = t_nesting_limit;
  t_nesting_limit = limit;
  return previous;
}

// ---- Dict -------------------------------------------------------------------------------------------------

const Value* Dict::find(std::string_view key) const {
  auto it = string_index_.find(std::string(key));
  return it == string_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(key.as_string());
  for (const auto& [k, v] : items_)
    if (!k.is_string() && equals(k, key)) return &v;
  return nullptr;
}

void Dict::clear() {
  items_.clear();
  string_index_.clear();
}

void Dict::set(Value key, Value value) {
  if (key.is_string()) {
    auto [it, inserted] = string_index_.emplace(key.as_string(), items_.size());
    if (!inserted) {
      items_[it->second].second = std::move(value);
      return;
    }
  } else {
    for (auto& [k, v] : items_) {
      if (!k.is_string() && equals(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

// ---- argument binding -------------------------------------------------------------------------------------

ValueList bind_args(const char* function, CallArgs& args, const std::vector<Param>& params) {
  if (args.positional.size() > params.size()) {
    type_error(str(function, "() takes at most ", params.size(), " argument(s) (", args.positional.size(),
                   " given)"));
  }
  std::vector<std::optional<Value>> bound(params.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = std::move(args.positional[i]);
  for (auto& [name, value] : args.keyword) {
    size_t k = 0;
    while (k < params.size() && name != params[k].name) ++k;
    if (k == params.size()) type_error(str(function, "() got an unexpected keyword argument '", name, "'"));
    if (bound[k]) type_error(str(function, "() got multiple values for argument '", name, "'"));
    bound[k] = std::move(value);
  }
  ValueList out;
  out.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) {
      out.push_back(std::move(*bound[i]));
    } else if (params[i].default_value) {
      out.push_back(*params[i].default_value);
    } else {
      type_error(str(function, "() missing required argument '", params[i].name, "'"));
    }
  }
  return out;
}

}  // namespace vlm::text::jinja
