#include "text/jinja_methods.h"

#include <unordered_map>

#include "text/jinja_interpreter.h"
#include "text/jinja_operators.h"
#include "text/jinja_pyformat.h"
#include "text/jinja_strings.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

namespace {

using Method = MethodFn;

class BoundMethod : public Callable {
 public:
  BoundMethod(Value self, std::string name, Method fn)
      : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  Value call(Interpreter& in, CallArgs args) const override { return fn_(in, self_, args); }
  std::string repr() const override {
    return "<built-in method " + name_ + " of " + type_name(self_) + " object>";
  }

 private:
  Value self_;
  std::string name_;
  Method fn_;
};

Value bind(const Value& self, const std::string& name, Method fn) {
  return Value::callable(std::make_shared<BoundMethod>(self, name, fn));
}

Value none() {
  return Value::none();
}

// ---- dict, list and loop methods --------------------------------------------------------------------------

Value dict_items(Interpreter&, const Value& self, CallArgs& args) {
  bind_args("items", args, {});
  ValueList out;
  for (const auto& [k, v] : self.as_dict().items()) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

Value dict_keys(Interpreter&, const Value& self, CallArgs& args) {
  bind_args("keys", args, {});
  return Value::list(iterate(self));
}

Value dict_values(Interpreter&, const Value& self, CallArgs& args) {
  bind_args("values", args, {});
  ValueList out;
  for (const auto& [k, v] : self.as_dict().items()) out.push_back(v);
  return Value::list(std::move(out));
}

Value dict_get(Interpreter&, const Value& self, CallArgs& args) {
  auto a = bind_args("get", args, {{"key", std::nullopt}, {"default", none()}});
  const Value* v = self.as_dict().find(a[0]);
  return v ? *v : a[1];
}

Value copy_self(Interpreter&, const Value& self, CallArgs& args) {
  bind_args("copy", args, {});
  return self;
}

Value list_index(Interpreter&, const Value& self, CallArgs& args) {
  auto a = bind_args("index", args, {{"value", std::nullopt}});
  const auto& items = self.as_list();
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], a[0])) return Value::integer(static_cast<int64_t>(i));
  raise(ErrorKind::kRuntime, "ValueError: " + to_repr(a[0]).text() + " is not in list");
}

Value list_count(Interpreter&, const Value& self, CallArgs& args) {
  auto a = bind_args("count", args, {{"value", std::nullopt}});
  int64_t n = 0;
  for (const auto& x : self.as_list()) n += equals(x, a[0]);
  return Value::integer(n);
}

Value loop_cycle(Interpreter&, const Value& self, CallArgs& args) {
  if (args.positional.empty()) type_error("no items for cycling given");
  return args.positional[self.as_loop().index0 % args.positional.size()];
}

Value loop_changed(Interpreter&, const Value& self, CallArgs& args) {
  auto& loop = self.as_loop();
  if (loop.last_changed) {
    const auto& last = *loop.last_changed;
    bool same = last.size() == args.positional.size();
    for (size_t i = 0; same && i < last.size(); ++i) same = equals(last[i], args.positional[i]);
    if (same) return Value::boolean(false);
  }
  loop.last_changed = args.positional;
  return Value::boolean(true);
}

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined(str("access to attribute '", name, "' of '", type_name(obj), "' object is unsafe."),
                          ErrorKind::kSecurity);
}

Value missing_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(str("'", object_type_repr(obj), "' has no attribute '", name, "'"));
}

bool is_dunder(const std::string& name) {
  return name.size() > 4 && name.rfind("__", 0) == 0;
}

// The Python attribute, if the object has one; nullopt when Python's getattr raises AttributeError.
std::optional<Value> python_attribute(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kString: {
      if (const MethodFn fn = find_str_method(name)) return bind(obj, name, fn);
      return std::nullopt;
    }
    case Value::Type::kDict:
      if (name == "items") return bind(obj, name, dict_items);
      if (name == "keys") return bind(obj, name, dict_keys);
      if (name == "values") return bind(obj, name, dict_values);
      if (name == "get") return bind(obj, name, dict_get);
      if (name == "copy") return bind(obj, name, copy_self);
      if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update")
        return unsafe(obj, name);
      return std::nullopt;
    case Value::Type::kList:
    case Value::Type::kTuple:
      if (name == "index") return bind(obj, name, list_index);
      if (name == "count") return bind(obj, name, list_count);
      if (obj.is_list()) {
        if (name == "copy") return bind(obj, name, copy_self);
        if (name == "append" || name == "clear" || name == "extend" || name == "insert" || name == "pop" ||
            name == "remove" || name == "reverse" || name == "sort")
          return unsafe(obj, name);
      }
      return std::nullopt;
    case Value::Type::kNamespace:
      if (const Value* v = obj.namespace_attrs().find(name)) return *v;
      return std::nullopt;
    case Value::Type::kLoop: {
      const auto& loop = obj.as_loop();
      const auto n = static_cast<int64_t>(loop.items->size());
      const auto i = static_cast<int64_t>(loop.index0);
      if (name == "index0") return Value::integer(i);
      if (name == "index") return Value::integer(i + 1);
      if (name == "revindex0") return Value::integer(n - i - 1);
      if (name == "revindex") return Value::integer(n - i);
      if (name == "first") return Value::boolean(i == 0);
      if (name == "last") return Value::boolean(i == n - 1);
      if (name == "length") return Value::integer(n);
      if (name == "depth") return Value::integer(1);
      if (name == "depth0") return Value::integer(0);
      if (name == "previtem")
        return i > 0 ? (*loop.items)[static_cast<size_t>(i - 1)]
                     : Value::undefined("there is no previous item");
      if (name == "nextitem")
        return i + 1 < n ? (*loop.items)[static_cast<size_t>(i + 1)]
                         : Value::undefined("there is no next item");
      if (name == "cycle") return bind(obj, name, loop_cycle);
      if (name == "changed") return bind(obj, name, loop_changed);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

Value get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (is_dunder(name)) return unsafe(obj, name);
  if (auto attr = python_attribute(obj, name)) return *attr;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return missing_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  switch (obj.type()) {
    case Value::Type::kDict:
      if (const Value* v = obj.as_dict().find(key)) return *v;
      break;
    case Value::Type::kList:
    case Value::Type::kTuple:
      if (key.is_int() || key.is_bool()) {
        const auto& items = obj.as_list();
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(items.size());
        if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(i)];
      }
      break;
    case Value::Type::kString:
      if (key.is_int() || key.is_bool()) {
        if (auto c = string_index(obj, key.as_int())) return *c;
      }
      break;
    default:
      break;
  }
  if (key.is_string()) {
    if (is_dunder(key.as_string())) return unsafe(obj, key.as_string());
    if (auto attr = python_attribute(obj, key.as_string())) return *attr;
    return missing_attribute(obj, key.as_string());
  }
  return Value::undefined(str(object_type_repr(obj), " has no element ", to_repr(key).text()));
}

}  // namespace vlm::text::jinja
