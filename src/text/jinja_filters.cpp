// jinja2's builtin filters (jinja2/filters.py) with transformers' tojson: strings, conversions, defaults.
// The filters over sequences are in jinja_filters_sequences.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "text/jinja_builtins.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_json.h"
#include "text/jinja_methods.h"
#include "text/jinja_operators.h"
#include "text/jinja_pyformat.h"
#include "text/jinja_strings.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

int64_t filter_int_arg(const Value& v, const char* what) {
  if (!v.is_int() && !v.is_bool())
    type_error(str("'", type_name(v), "' object cannot be interpreted as an integer (", what, ")"));
  return v.as_int();
}

Value lookup_attribute_path(const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return get_item(item, attribute);
  Value v = item;
  const std::string& path = attribute.as_string();
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const auto index = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)
                           ? parse_python_int(part)
                           : std::nullopt;
    v = get_item(v, index ? Value::integer(*index) : Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

TrackedString html_escape(const TrackedString& s) {
  TrackedString out;
  TrackedString::ContentCursor cursor(s);
  const std::string& t = s.text();
  size_t run = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const char* rep = nullptr;
    switch (t[i]) {
      case '&':
        rep = "&amp;";
        break;
      case '<':
        rep = "&lt;";
        break;
      case '>':
        rep = "&gt;";
        break;
      case '"':
        rep = "&#34;";
        break;
      case '\'':
        rep = "&#39;";
        break;
      default:
        continue;
    }
    out.append(s.substr(run, i));
    out.append(rep, cursor.is_content(i));
    ValueBudget::check_bytes(out.size());
    run = i + 1;
  }
  out.append(s.substr(run, t.size()));
  return out;
}

namespace {

Value none() {
  return Value::none();
}
Value integer(int64_t i) {
  return Value::integer(i);
}
Value boolean(bool b) {
  return Value::boolean(b);
}

// jinja2's soft_str: str() of anything (Undefined -> "").
TrackedString soft_str(const Value& v) {
  return to_str(v);
}

int64_t need_int(const Value& v, const char* what) {
  return filter_int_arg(v, what);
}

// ---- string filters ---------------------------------------------------------------------------------------

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("upper", a, {});
  return Value::string(change_case(soft_str(v), CaseMap::kUpper));
}
Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("lower", a, {});
  return Value::string(change_case(soft_str(v), CaseMap::kLower));
}
Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("capitalize", a, {});
  return Value::string(change_case(soft_str(v), CaseMap::kCapitalize));
}

// jinja2's title: split on runs of [-\s({[<], then upper-case the first character of each piece and
// lower-case the rest.
Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("title", a, {});
  const TrackedString s = soft_str(v);
  const std::string& t = s.text();
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || unicode::is_space(c);
  };
  TrackedString out;
  size_t i = 0;
  while (i < t.size()) {
    const size_t start = i;
    const bool sep = is_sep(unicode::decode(t, i).cp);
    while (i < t.size() && is_sep(unicode::decode(t, i).cp) == sep) i += unicode::decode(t, i).len;
    TrackedString piece = s.substr(start, i);
    if (sep) {
      out.append(piece);
    } else {
      const size_t first = unicode::decode(t, start).len;
      out.append(change_case(piece.substr(0, first), CaseMap::kUpper));
      out.append(change_case(piece.substr(first, piece.size()), CaseMap::kLower));
    }
  }
  return Value::string(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("trim", a, {{"chars", none()}});
  std::optional<std::string> chars;
  if (args[0].is_string()) chars = args[0].as_string();
  return Value::string(strip(soft_str(v), chars, true, true));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("replace", a, {{"old", std::nullopt}, {"new", std::nullopt}, {"count", none()}});
  const int64_t count = args[2].is_none() ? -1 : need_int(args[2], "count");
  return Value::string(
      replace(soft_str(v), to_str(args[0]).text(), to_str(args[1]), count, in.limits().max_output_bytes));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("center", a, {{"width", integer(80)}});
  const int64_t width = std::max<int64_t>(need_int(args[0], "width"), 0);
  in.check_string_size(static_cast<size_t>(width));
  return Value::string(pad(soft_str(v), static_cast<size_t>(width), " ", '^'));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  auto args =
      bind_args("indent", a, {{"width", integer(4)}, {"first", boolean(false)}, {"blank", boolean(false)}});
  TrackedString indention;
  if (args[0].is_string()) {
    indention = args[0].as_tracked();
  } else {
    const int64_t w = std::max<int64_t>(need_int(args[0], "width"), 0);
    in.check_string_size(static_cast<size_t>(w));
    indention = TrackedString(std::string(static_cast<size_t>(w), ' '));
  }
  TrackedString s = soft_str(v);
  s.append("\n");  // jinja2's quirk so that splitlines keeps a trailing empty line
  const ValueList lines = splitlines(s, false);
  TrackedString out;
  if (truthy(args[2])) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) {
        out.append("\n");
        out.append(indention);
      }
      out.append(lines[i].as_tracked());
    }
  } else {
    if (!lines.empty()) out.append(lines[0].as_tracked());
    for (size_t i = 1; i < lines.size(); ++i) {
      out.append("\n");
      if (!lines[i].as_string().empty()) out.append(indention);
      out.append(lines[i].as_tracked());
      in.check_string_size(out.size());
    }
  }
  if (truthy(args[1])) {
    TrackedString first = indention;
    first.append(out);
    out = std::move(first);
  }
  return Value::string(std::move(out));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("escape", a, {});
  return Value::string(html_escape(soft_str(v)));
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("safe", a, {});
  return Value::string(soft_str(v));
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("string", a, {});
  return Value::string(soft_str(v));
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    type_error("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.keyword.empty()) {
    Dict d;
    for (auto& [k, x] : a.keyword) d.set(Value::string(k), x);
    args = Value::dict(std::move(d));
  } else {
    args = Value::tuple(a.positional);
  }
  TrackedString out = percent_format(soft_str(v), args);
  in.check_string_size(out.size());
  return Value::string(std::move(out));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("truncate", a,
                        {{"length", integer(255)},
                         {"killwords", boolean(false)},
                         {"end", Value::string("...")},
                         {"leeway", none()}});
  const TrackedString s = soft_str(v);
  const int64_t length = need_int(args[0], "length");
  const TrackedString end = to_str(args[2]);
  const auto end_len = static_cast<int64_t>(unicode::count_code_points(end.text()));
  const int64_t leeway = args[3].is_none() ? 5 : need_int(args[3], "leeway");
  if (length < end_len) type_error(str("expected length >= ", end_len, ", got ", length));
  if (leeway < 0) type_error(str("expected leeway >= 0, got ", leeway));
  if (static_cast<int64_t>(unicode::count_code_points(s.text())) <= length + leeway) return Value::string(s);
  TrackedString head = s.substr(0, unicode::byte_offset(s.text(), static_cast<size_t>(length - end_len)));
  if (!truthy(args[1])) {
    const ValueList parts = split(head, std::string(" "), 1, true);
    head = parts[0].as_tracked();
  }
  head.append(end);
  return Value::string(std::move(head));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("wordcount", a, {});
  const std::string t = soft_str(v).text();
  int64_t n = 0;
  bool in_word = false;
  for (size_t i = 0; i < t.size();) {
    const auto d = unicode::decode(t, i);
    const bool w = d.cp == '_' || unicode::is_alpha(d.cp) || unicode::is_numeric(d.cp);
    if (w && !in_word) ++n;
    in_word = w;
    i += d.len;
  }
  return integer(n);
}

// ---- conversions ------------------------------------------------------------------------------------------

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("int", a, {{"default", integer(0)}, {"base", integer(10)}});
  if (v.is_string()) {
    if (auto i = parse_python_int(v.as_string(), static_cast<int>(need_int(args[1], "base"))))
      return integer(*i);
  } else if (v.is_int() || v.is_bool()) {
    return integer(v.as_int());
  }
  // jinja2 falls back to int(float(value)), so "42.23"|int is 42.
  std::optional<double> f;
  if (v.is_float()) f = v.as_double();
  if (v.is_string()) f = parse_python_float(v.as_string());
  if (f && !std::isnan(*f)) {
    if (std::isinf(*f)) raise(ErrorKind::kRuntime, "OverflowError: cannot convert float infinity to integer");
    if (std::fabs(*f) < 9.2e18) return integer(static_cast<int64_t>(*f));
    raise(ErrorKind::kRuntime, "integer overflow (integers are limited to 64 bits)");
  }
  return args[0];
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("float", a, {{"default", Value::number(0.0)}});
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    if (auto f = parse_python_float(v.as_string())) return Value::number(*f);
  }
  return args[0];
}

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("abs", a, {});
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN)
      raise(ErrorKind::kRuntime, "integer overflow (integers are limited to 64 bits)");
    return integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  type_error("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("round", a, {{"precision", integer(0)}, {"method", Value::string("common")}});
  const std::string method = args[1].is_string() ? args[1].as_string() : "";
  if (method != "common" && method != "ceil" && method != "floor")
    type_error("method must be common, ceil or floor");
  const int64_t precision = need_int(args[0], "precision");
  if (!v.is_number()) type_error("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return integer(v.as_int());  // round(int, n) returns the int for n >= 0
    const double x = v.as_double();
    if (std::isnan(x) || std::isinf(x) || precision > 300) return Value::number(x);
    if (precision < 0) {
      const double scale = std::pow(10.0, static_cast<double>(-precision));
      return Value::number(std::nearbyint(x / scale) * scale);
    }
    // Correctly rounded, half to even, as Python's round(x, n) (via the exact decimal expansion).
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
    return Value::number(parse_python_float(buf).value_or(x));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

// ---- misc -------------------------------------------------------------------------------------------------

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("default", a, {{"default_value", Value::string("")}, {"boolean", boolean(false)}});
  if (v.is_undefined() || (truthy(args[1]) && !truthy(v))) return args[0];
  return v;
}

Value f_attr(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("attr", a, {{"name", std::nullopt}});
  if (v.is_undefined()) fail_undefined(v);
  const std::string name = to_str(args[0]).text();
  Value r = get_attribute(v, name);
  // attr() never falls back to item lookup: a dict key is not an attribute.
  if (v.is_dict() && v.as_dict().find(name) && !r.is_callable() && !r.is_undefined())
    return Value::undefined(str("'", object_type_repr(v), "' has no attribute '", name, "'"));
  return r;
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("tojson", a,
                        {{"ensure_ascii", boolean(false)},
                         {"indent", none()},
                         {"separators", none()},
                         {"sort_keys", boolean(false)}});
  JsonDumpOptions o;
  o.ensure_ascii = truthy(args[0]);
  o.sort_keys = truthy(args[3]);
  if (args[1].is_string()) {
    o.indent = args[1].as_string();
  } else if (args[1].is_int() || args[1].is_bool()) {
    o.indent = std::string(static_cast<size_t>(std::max<int64_t>(args[1].as_int(), 0)), ' ');
  } else if (!args[1].is_none()) {
    type_error("indent must be an int, a str or None");
  }
  if (o.indent) o.item_separator = ",";
  if (!args[2].is_none()) {
    if (!args[2].is_sequence() || args[2].as_list().size() != 2 || !args[2].as_list()[0].is_string() ||
        !args[2].as_list()[1].is_string())
      type_error("separators must be a (item_separator, key_separator) pair of strings");
    o.item_separator = args[2].as_list()[0].as_string();
    o.key_separator = args[2].as_list()[1].as_string();
  }
  TrackedString out = json_dumps(v, o);
  in.check_string_size(out.size());
  return Value::string(std::move(out));
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> table = [] {
    std::unordered_map<std::string, FilterFn> t = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"capitalize", f_capitalize},
        {"center", f_center},
        {"d", f_default},
        {"default", f_default},
        {"e", f_escape},
        {"escape", f_escape},
        {"float", f_float},
        {"forceescape", f_escape},
        {"format", f_format},
        {"indent", f_indent},
        {"int", f_int},
        {"lower", f_lower},
        {"replace", f_replace},
        {"round", f_round},
        {"safe", f_safe},
        {"string", f_string},
        {"title", f_title},
        {"tojson", f_tojson},
        {"trim", f_trim},
        {"truncate", f_truncate},
        {"upper", f_upper},
        {"wordcount", f_wordcount},
    };
    add_sequence_filters(t);
    return t;
  }();
  return table;
}

}  // namespace

FilterFn find_filter(const std::string& name) {
  const auto& t = filters();
  auto it = t.find(name);
  return it == t.end() ? nullptr : it->second;
}

}  // namespace vlm::text::jinja
