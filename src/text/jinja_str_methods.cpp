// Python's str methods as templates call them ("a b".split(), s.startswith(...), ...), keeping provenance.
#include <algorithm>
#include <unordered_map>

#include "text/jinja_interpreter.h"
#include "text/jinja_methods.h"
#include "text/jinja_operators.h"
#include "text/jinja_pyformat.h"
#include "text/jinja_strings.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

namespace {

Value none() {
  return Value::none();
}
std::optional<std::string> opt_string(const Value& v, const char* what) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_string()) type_error(str(what, " arg must be None or str"));
  return v.as_string();
}

const std::string& need_string(const Value& v, const char* what) {
  if (!v.is_string()) type_error(str(what, "() argument must be str, not ", type_name(v)));
  return v.as_string();
}

std::optional<int64_t> opt_int(const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_int() && !v.is_bool()) type_error("slice indices must be integers or None");
  return v.as_int();
}

int64_t need_int(const Value& v, const char* what) {
  if (!v.is_int() && !v.is_bool())
    type_error(str("'", type_name(v), "' object cannot be interpreted as an integer (", what, ")"));
  return v.as_int();
}

// ---- str methods ------------------------------------------------------------------------------------------

Value case_method(const Value& self, CallArgs& args, const char* name, CaseMap mode) {
  bind_args(name, args, {});
  return Value::string(change_case(self.as_tracked(), mode));
}

Value str_strip_impl(const Value& self, CallArgs& args, const char* name, bool left, bool right) {
  auto a = bind_args(name, args, {{"chars", none()}});
  return Value::string(strip(self.as_tracked(), opt_string(a[0], name), left, right));
}

Value str_split_impl(const Value& self, CallArgs& args, const char* name, bool right) {
  auto a = bind_args(name, args, {{"sep", none()}, {"maxsplit", Value::integer(-1)}});
  return Value::list(split(self.as_tracked(), opt_string(a[0], name), need_int(a[1], "maxsplit"), right));
}

bool affix_match(const std::string& s, const Value& affix, std::optional<int64_t> start,
                 std::optional<int64_t> end, bool suffix, const char* name) {
  const auto n = static_cast<int64_t>(unicode::count_code_points(s));
  auto adjust = [&](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  const int64_t b = start ? adjust(*start) : 0;
  const int64_t e = end ? adjust(*end) : n;
  if (b > e) return false;
  const size_t bb = unicode::byte_offset(s, static_cast<size_t>(b));
  const std::string_view w =
      std::string_view(s).substr(bb, unicode::byte_offset(s, static_cast<size_t>(e)) - bb);
  auto one = [&](const Value& x) {
    if (!x.is_string()) type_error(str(name, " first arg must be str or a tuple of str, not ", type_name(x)));
    const std::string& p = x.as_string();
    if (p.size() > w.size()) return false;
    return suffix ? w.compare(w.size() - p.size(), p.size(), p) == 0 : w.compare(0, p.size(), p) == 0;
  };
  if (affix.is_tuple()) {
    for (const auto& x : affix.as_list())
      if (one(x)) return true;
    return false;
  }
  return one(affix);
}

Value str_affix(const Value& self, CallArgs& args, const char* name, bool suffix) {
  auto a = bind_args(name, args, {{"prefix", std::nullopt}, {"start", none()}, {"end", none()}});
  return Value::boolean(affix_match(self.as_string(), a[0], opt_int(a[1]), opt_int(a[2]), suffix, name));
}

Value str_find_impl(const Value& self, CallArgs& args, const char* name, bool right, bool raise_missing) {
  auto a = bind_args(name, args, {{"sub", std::nullopt}, {"start", none()}, {"end", none()}});
  const int64_t at = find(self.as_string(), need_string(a[0], name), opt_int(a[1]), opt_int(a[2]), right);
  if (at < 0 && raise_missing) raise(ErrorKind::kRuntime, "ValueError: substring not found");
  return Value::integer(at);
}

template <bool (*Pred)(char32_t)>
Value str_predicate(const Value& self, CallArgs& args) {
  bind_args("is...", args, {});
  const std::string& s = self.as_string();
  if (s.empty()) return Value::boolean(false);
  for (size_t i = 0; i < s.size();) {
    const auto d = unicode::decode(s, i);
    if (!Pred(d.cp)) return Value::boolean(false);
    i += d.len;
  }
  return Value::boolean(true);
}

bool is_alnum(char32_t c) {
  return unicode::is_alpha(c) || unicode::is_numeric(c);
}

// isupper/islower: at least one cased character and no cased character of the other kind.
Value str_case_test(const Value& self, CallArgs& args, bool upper) {
  bind_args(upper ? "isupper" : "islower", args, {});
  bool cased = false;
  const std::string& s = self.as_string();
  for (size_t i = 0; i < s.size();) {
    const auto d = unicode::decode(s, i);
    if (upper ? unicode::is_lower(d.cp) : unicode::is_upper(d.cp)) return Value::boolean(false);
    cased |= unicode::is_cased(d.cp);
    i += d.len;
  }
  return Value::boolean(cased);
}

Value str_join(Interpreter& in, const Value& self, CallArgs& args) {
  auto a = bind_args("join", args, {{"iterable", std::nullopt}});
  TrackedString out;
  const ValueList items = iterate(a[0]);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string())
      type_error(str("sequence item ", i, ": expected str instance, ", type_name(items[i]), " found"));
    if (i) out.append(self.as_tracked());
    out.append(items[i].as_tracked());
    in.check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

Value str_replace(Interpreter& in, const Value& self, CallArgs& args) {
  auto a = bind_args("replace", args,
                     {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::integer(-1)}});
  need_string(a[0], "replace");
  need_string(a[1], "replace");
  return Value::string(replace(self.as_tracked(), a[0].as_string(), a[1].as_tracked(),
                               need_int(a[2], "count"), in.limits().max_output_bytes));
}

Value str_pad(Interpreter& in, const Value& self, CallArgs& args, const char* name, char align) {
  auto a = bind_args(name, args, {{"width", std::nullopt}, {"fillchar", Value::string(" ")}});
  const int64_t width = need_int(a[0], "width");
  if (!a[1].is_string() || unicode::count_code_points(a[1].as_string()) != 1)
    type_error("The fill character must be exactly one character long");
  in.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)) * a[1].as_string().size());
  return Value::string(
      pad(self.as_tracked(), static_cast<size_t>(std::max<int64_t>(width, 0)), a[1].as_string(), align));
}

Value str_partition(const Value& self, CallArgs& args, bool right) {
  auto a = bind_args(right ? "rpartition" : "partition", args, {{"sep", std::nullopt}});
  const std::string& sep = need_string(a[0], "partition");
  if (sep.empty()) raise(ErrorKind::kRuntime, "ValueError: empty separator");
  const auto& t = self.as_tracked();
  const size_t at = right ? t.text().rfind(sep) : t.text().find(sep);
  if (at == std::string::npos) {
    return right ? Value::tuple({Value::string(""), Value::string(""), self})
                 : Value::tuple({self, Value::string(""), Value::string("")});
  }
  return Value::tuple({Value::string(t.substr(0, at)), Value::string(t.substr(at, at + sep.size())),
                       Value::string(t.substr(at + sep.size(), t.size()))});
}

Value str_affix_remove(const Value& self, CallArgs& args, bool suffix) {
  auto a = bind_args(suffix ? "removesuffix" : "removeprefix", args, {{"affix", std::nullopt}});
  const std::string& p = need_string(a[0], "removeprefix");
  const auto& t = self.as_tracked();
  if (p.empty() || p.size() > t.size()) return self;
  if (!suffix && t.text().compare(0, p.size(), p) == 0) return Value::string(t.substr(p.size(), t.size()));
  if (suffix && t.text().compare(t.size() - p.size(), p.size(), p) == 0)
    return Value::string(t.substr(0, t.size() - p.size()));
  return self;
}

const std::unordered_map<std::string, MethodFn>& str_methods() {
  static const std::unordered_map<std::string, MethodFn> methods = {
      {"upper",
       [](Interpreter&, const Value& s, CallArgs& a) { return case_method(s, a, "upper", CaseMap::kUpper); }},
      {"lower",
       [](Interpreter&, const Value& s, CallArgs& a) { return case_method(s, a, "lower", CaseMap::kLower); }},
      {"casefold", [](Interpreter&, const Value& s,
                      CallArgs& a) { return case_method(s, a, "casefold", CaseMap::kLower); }},
      {"swapcase", [](Interpreter&, const Value& s,
                      CallArgs& a) { return case_method(s, a, "swapcase", CaseMap::kSwap); }},
      {"title", [](Interpreter&, const Value& s,
                   CallArgs& a) { return case_method(s, a, "title", CaseMap::kTitleWords); }},
      {"capitalize", [](Interpreter&, const Value& s,
                        CallArgs& a) { return case_method(s, a, "capitalize", CaseMap::kCapitalize); }},
      {"strip",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_strip_impl(s, a, "strip", true, true); }},
      {"lstrip",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_strip_impl(s, a, "lstrip", true, false); }},
      {"rstrip",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_strip_impl(s, a, "rstrip", false, true); }},
      {"split",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_split_impl(s, a, "split", false); }},
      {"rsplit",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_split_impl(s, a, "rsplit", true); }},
      {"splitlines",
       [](Interpreter&, const Value& s, CallArgs& a) {
         auto v = bind_args("splitlines", a, {{"keepends", Value::boolean(false)}});
         return Value::list(splitlines(s.as_tracked(), truthy(v[0])));
       }},
      {"startswith",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_affix(s, a, "startswith", false); }},
      {"endswith",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_affix(s, a, "endswith", true); }},
      {"find",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_find_impl(s, a, "find", false, false); }},
      {"rfind",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_find_impl(s, a, "rfind", true, false); }},
      {"index",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_find_impl(s, a, "index", false, true); }},
      {"rindex",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_find_impl(s, a, "rindex", true, true); }},
      {"count",
       [](Interpreter&, const Value& s, CallArgs& a) {
         auto v = bind_args("count", a, {{"sub", std::nullopt}});
         return Value::integer(count(s.as_string(), need_string(v[0], "count")));
       }},
      {"replace", str_replace},
      {"join", str_join},
      {"center",
       [](Interpreter& in, const Value& s, CallArgs& a) { return str_pad(in, s, a, "center", '^'); }},
      {"ljust", [](Interpreter& in, const Value& s, CallArgs& a) { return str_pad(in, s, a, "ljust", '<'); }},
      {"rjust", [](Interpreter& in, const Value& s, CallArgs& a) { return str_pad(in, s, a, "rjust", '>'); }},
      {"zfill",
       [](Interpreter& in, const Value& s, CallArgs& a) {
         auto v = bind_args("zfill", a, {{"width", std::nullopt}});
         const auto& t = s.as_tracked();
         const int64_t width = need_int(v[0], "width");
         const int64_t len = static_cast<int64_t>(unicode::count_code_points(t.text()));
         if (width <= len) return s;
         in.check_string_size(static_cast<size_t>(width));
         const bool sign = !t.empty() && (t.text()[0] == '-' || t.text()[0] == '+');
         TrackedString out = sign ? t.substr(0, 1) : TrackedString();
         out.append(std::string(static_cast<size_t>(width - len), '0'));
         out.append(sign ? t.substr(1, t.size()) : t);
         return Value::string(std::move(out));
       }},
      {"partition", [](Interpreter&, const Value& s, CallArgs& a) { return str_partition(s, a, false); }},
      {"rpartition", [](Interpreter&, const Value& s, CallArgs& a) { return str_partition(s, a, true); }},
      {"removeprefix",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_affix_remove(s, a, false); }},
      {"removesuffix",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_affix_remove(s, a, true); }},
      {"isalpha",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<unicode::is_alpha>(s, a); }},
      {"isdigit",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<unicode::is_digit>(s, a); }},
      {"isdecimal",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<unicode::is_decimal>(s, a); }},
      {"isnumeric",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<unicode::is_numeric>(s, a); }},
      {"isalnum", [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<is_alnum>(s, a); }},
      {"isspace",
       [](Interpreter&, const Value& s, CallArgs& a) { return str_predicate<unicode::is_space>(s, a); }},
      {"isupper", [](Interpreter&, const Value& s, CallArgs& a) { return str_case_test(s, a, true); }},
      {"islower", [](Interpreter&, const Value& s, CallArgs& a) { return str_case_test(s, a, false); }},
      {"format",
       [](Interpreter& in, const Value& s, CallArgs& a) {
         TrackedString out = str_format(s.as_tracked(), a);
         in.check_string_size(out.size());
         return Value::string(std::move(out));
       }},
  };
  return methods;
}

}  // namespace

MethodFn find_str_method(const std::string& name) {
  const auto& m = str_methods();
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}

}  // namespace vlm::text::jinja
