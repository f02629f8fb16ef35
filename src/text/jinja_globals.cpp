// Global functions of transformers' environment: jinja2's range (sandboxed to 100000 items), dict,
// namespace and joiner, and transformers' raise_exception(message) and strftime_now(format).
#include <ctime>

#include "text/jinja_builtins.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_operators.h"

namespace vlm::text::jinja {

namespace {

using Fn = Value (*)(Interpreter&, CallArgs&);

class Builtin : public Callable {
 public:
  Builtin(std::string name, Fn fn) : name_(std::move(name)), fn_(fn) {}
  Value call(Interpreter& in, CallArgs args) const override { return fn_(in, args); }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }

 private:
  std::string name_;
  Fn fn_;
};

// jinja2's sandbox caps range() at MAX_RANGE = 100000 items.
constexpr int64_t kMaxRange = 100000;

int64_t range_int(const Value& v) {
  if (!v.is_int() && !v.is_bool())
    type_error("'" + type_name(v) + "' object cannot be interpreted as an integer");
  return v.as_int();
}

Value g_range(Interpreter& in, CallArgs& a) {
  if (!a.keyword.empty()) type_error("range() takes no keyword arguments");
  const auto& p = a.positional;
  if (p.empty() || p.size() > 3) type_error(str("range expected 1 to 3 arguments, got ", p.size()));
  int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = range_int(p[0]);
  } else {
    start = range_int(p[0]);
    stop = range_int(p[1]);
    if (p.size() == 3) step = range_int(p[2]);
  }
  if (step == 0) raise(ErrorKind::kRuntime, "ValueError: range() arg 3 must not be zero");
  // Length computed without overflow: ceil((stop - start) / step) when positive.
  const long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  const long double n = span / static_cast<long double>(step);
  const long double count = n <= 0 ? 0 : std::ceil(n);
  if (count > kMaxRange)
    raise(ErrorKind::kLimit, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  ValueList out;
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.push_back(Value::integer(start + i * step));
  in.count_steps(out.size());
  return Value::list(std::move(out));
}

// dict(mapping or pairs, **kwargs) and namespace(...) share Python's dict() argument rules.
Dict dict_from_args(const char* fn, CallArgs& a) {
  if (a.positional.size() > 1) type_error(str(fn, " expected at most 1 argument, got ", a.positional.size()));
  Dict d;
  if (!a.positional.empty()) {
    const Value& src = a.positional[0];
    if (src.is_dict() || src.is_namespace()) {
      for (const auto& [k, v] : src.as_dict().items()) d.set(k, v);
    } else {
      for (const auto& pair : iterate(src)) {
        if (!pair.is_sequence() || pair.as_list().size() != 2)
          type_error("dictionary update sequence element has wrong length; 2 is required");
        d.set(pair.as_list()[0], pair.as_list()[1]);
      }
    }
  }
  for (auto& [k, v] : a.keyword) d.set(Value::string(k), v);
  return d;
}

Value g_dict(Interpreter&, CallArgs& a) {
  return Value::dict(dict_from_args("dict", a));
}

Value g_namespace(Interpreter& in, CallArgs& a) {
  return in.make_namespace(dict_from_args("namespace", a));
}

Value g_raise_exception(Interpreter&, CallArgs& a) {
  auto args = bind_args("raise_exception", a, {{"message", std::nullopt}});
  raise(ErrorKind::kRaised, to_str(args[0]).text());
}

Value g_strftime_now(Interpreter& in, CallArgs& a) {
  auto args = bind_args("strftime_now", a, {{"format", std::nullopt}});
  if (!args[0].is_string()) type_error("strftime() argument 1 must be str, not " + type_name(args[0]));
  const std::string& fmt = args[0].as_string();
  if (fmt.empty()) return Value::string("");
  std::time_t now = in.now();
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string buf(256 + fmt.size() * 16, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  if (n == 0) raise(ErrorKind::kRuntime, "strftime_now: the formatted date is too long or empty");
  buf.resize(n);
  return Value::string(std::move(buf));
}

// joiner(sep=", "): a callable returning "" the first time and sep afterwards.
class Joiner : public Callable {
 public:
  explicit Joiner(Value sep) : sep_(std::move(sep)) {}
  Value call(Interpreter&, CallArgs args) const override {
    bind_args("joiner", args, {});
    if (!used_) {
      used_ = true;
      return Value::string("");
    }
    return sep_;
  }
  std::string repr() const override { return "<jinja2.utils.Joiner object>"; }

 private:
  Value sep_;
  mutable bool used_ = false;
};

Value g_joiner(Interpreter&, CallArgs& a) {
  auto args = bind_args("joiner", a, {{"sep", Value::string(", ")}});
  return Value::callable(std::make_shared<Joiner>(args[0]));
}

}  // namespace

std::unordered_map<std::string, Value> make_globals() {
  std::unordered_map<std::string, Value> g;
  auto add = [&](const char* name, Fn fn) { g[name] = Value::callable(std::make_shared<Builtin>(name, fn)); };
  add("range", g_range);
  add("dict", g_dict);
  add("namespace", g_namespace);
  add("joiner", g_joiner);
  add("raise_exception", g_raise_exception);
  add("strftime_now", g_strftime_now);
  return g;
}

}  // namespace vlm::text::jinja
