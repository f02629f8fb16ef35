// jinja2's builtin tests (jinja2/tests.py): `x is defined`, `x is string`, `x is divisibleby 3`, ...
#include <unordered_map>

#include "text/jinja_builtins.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_operators.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

namespace {

const Value& one_arg(const char* name, CallArgs& a) {
  if (a.positional.size() != 1 || !a.keyword.empty())
    type_error(str("test '", name, "' takes exactly one argument"));
  return a.positional[0];
}

void no_args(const char* name, CallArgs& a) {
  if (!a.positional.empty() || !a.keyword.empty()) type_error(str("test '", name, "' takes no arguments"));
}

Value modulo(Interpreter& in, const Value& v, const Value& n) {
  return binary_op("%", v, n, in.limits().max_output_bytes);
}

// str(v).islower() / .isupper(): some cased character, and none of the other case.
bool case_test(const Value& v, bool upper) {
  const std::string s = to_str(v).text();
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    const auto d = unicode::decode(s, i);
    if (upper ? unicode::is_lower(d.cp) : unicode::is_upper(d.cp)) return false;
    cased |= unicode::is_cased(d.cp);
    i += d.len;
  }
  return cased;
}

int ordering(const Value& a, const Value& b, const char* op) {
  return compare(a, b, op);
}

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> table = {
      {"defined",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("defined", a);
         return !v.is_undefined();
       }},
      {"undefined",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("undefined", a);
         return v.is_undefined();
       }},
      {"none",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("none", a);
         return v.is_none();
       }},
      {"boolean",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("boolean", a);
         return v.is_bool();
       }},
      {"false",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("false", a);
         return v.is_bool() && !v.as_bool();
       }},
      {"true",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("true", a);
         return v.is_bool() && v.as_bool();
       }},
      {"integer",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("integer", a);
         return v.is_int();
       }},
      {"float",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("float", a);
         return v.is_float();
       }},
      {"number",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("number", a);
         return v.is_number();
       }},
      {"string",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("string", a);
         return v.is_string();
       }},
      {"mapping",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("mapping", a);
         return v.is_dict();
       }},
      {"callable",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("callable", a);
         return v.is_callable();
       }},
      {"escaped",
       [](Interpreter&, const Value&, CallArgs& a) {
         no_args("escaped", a);
         return false;
       }},
      // Anything with len() and [] (str, list, tuple, dict, and jinja2's Undefined).
      {"sequence",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("sequence", a);
         return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
       }},
      // Anything iter() accepts.
      {"iterable",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("iterable", a);
         return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined() || v.is_generator() ||
                v.is_loop();
       }},
      {"odd",
       [](Interpreter& in, const Value& v, CallArgs& a) {
         no_args("odd", a);
         return equals(modulo(in, v, Value::integer(2)), Value::integer(1));
       }},
      {"even",
       [](Interpreter& in, const Value& v, CallArgs& a) {
         no_args("even", a);
         return equals(modulo(in, v, Value::integer(2)), Value::integer(0));
       }},
      {"divisibleby",
       [](Interpreter& in, const Value& v, CallArgs& a) {
         return equals(modulo(in, v, one_arg("divisibleby", a)), Value::integer(0));
       }},
      {"lower",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("lower", a);
         return case_test(v, false);
       }},
      {"upper",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("upper", a);
         return case_test(v, true);
       }},
      {"in", [](Interpreter&, const Value& v, CallArgs& a) { return contains(one_arg("in", a), v); }},
      {"sameas",
       [](Interpreter&, const Value& v, CallArgs& a) {
         const Value& o = one_arg("sameas", a);
         if (v.type() != o.type()) return false;
         if (v.is_none() || v.is_bool() || v.is_int() || v.is_undefined()) return equals(v, o);
         return v.identity() == o.identity();
       }},
      {"filter",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("filter", a);
         return v.is_string() && find_filter(v.as_string()) != nullptr;
       }},
      {"test",
       [](Interpreter&, const Value& v, CallArgs& a) {
         no_args("test", a);
         return v.is_string() && find_test(v.as_string()) != nullptr;
       }},
      {"eq", [](Interpreter&, const Value& v, CallArgs& a) { return equals(v, one_arg("eq", a)); }},
      {"ne", [](Interpreter&, const Value& v, CallArgs& a) { return !equals(v, one_arg("ne", a)); }},
      {"lt",
       [](Interpreter&, const Value& v, CallArgs& a) { return ordering(v, one_arg("lt", a), "<") == -1; }},
      {"le",
       [](Interpreter&, const Value& v, CallArgs& a) {
         const int c = ordering(v, one_arg("le", a), "<=");
         return c == -1 || c == 0;
       }},
      {"gt",
       [](Interpreter&, const Value& v, CallArgs& a) { return ordering(v, one_arg("gt", a), ">") == 1; }},
      {"ge",
       [](Interpreter&, const Value& v, CallArgs& a) {
         const int c = ordering(v, one_arg("ge", a), ">=");
         return c == 1 || c == 0;
       }},
  };
  return table;
}

}  // namespace

TestFn find_test(const std::string& name) {
  static const std::unordered_map<std::string, std::string> aliases = {
      {"==", "eq"}, {"equalto", "eq"}, {"!=", "ne"},          {"<", "lt"}, {"lessthan", "lt"},
      {"<=", "le"}, {">", "gt"},       {"greaterthan", "gt"}, {">=", "ge"}};
  const auto alias = aliases.find(name);
  const auto& t = tests();
  auto it = t.find(alias == aliases.end() ? name : alias->second);
  return it == t.end() ? nullptr : it->second;
}

}  // namespace vlm::text::jinja
