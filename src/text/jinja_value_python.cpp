// Python semantics of values: truthiness, str() and repr() (with provenance), ==, ordering, type names.
#include <cmath>
#include <cstdio>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"
#include "text/jinja_value.h"

namespace vlm::text::jinja {

// ---- truthiness, str, repr --------------------------------------------------------------------------------

bool truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return false;
    case Value::Type::kBool:
      return v.as_bool();
    case Value::Type::kInt:
      return v.as_int() != 0;
    case Value::Type::kFloat:
      return v.as_double() != 0.0;
    case Value::Type::kString:
      return !v.as_string().empty();
    case Value::Type::kList:
    case Value::Type::kTuple:
      return !v.as_list().empty();
    case Value::Type::kDict:
      return !v.as_dict().empty();
    default:
      return true;
  }
}

namespace {

// Python's repr() of a str: quotes chosen like CPython, escapes for non-printable characters. Each output
// character keeps the provenance of the character it renders.
TrackedString string_repr(const TrackedString& s) {
  const std::string& t = s.text();
  const bool has_single = t.find('\'') != std::string::npos;
  const bool has_double = t.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  TrackedString out;
  out.append(std::string(1, quote));
  TrackedString::ContentCursor cursor(s);
  std::string piece;
  for (size_t i = 0; i < t.size();) {
    const auto d = unicode::decode(t, i);
    piece.clear();
    const char32_t c = d.cp;
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      piece = {'\\', static_cast<char>(c)};
    } else if (c == '\t') {
      piece = "\\t";
    } else if (c == '\n') {
      piece = "\\n";
    } else if (c == '\r') {
      piece = "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      piece = buf;
    } else if (c < 0x7F || unicode::is_printable(c)) {
      piece.assign(t, i, d.len);
    } else {
      char buf[16];
      if (c <= 0xFF) {
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      } else if (c <= 0xFFFF) {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      }
      piece = buf;
    }
    out.append(piece, cursor.is_content(i));
    i += d.len;
  }
  out.append(std::string(1, quote));
  return out;
}

void append_joined(TrackedString& out, const ValueList& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.append(", ");
    out.append(to_repr(items[i]));
    ValueBudget::check_bytes(out.size());
  }
}

}  // namespace

TrackedString to_repr(const Value& v) {
  NestingGuard guard;
  switch (v.type()) {
    case Value::Type::kUndefined:
      return TrackedString("Undefined");
    case Value::Type::kNone:
      return TrackedString("None");
    case Value::Type::kBool:
      return TrackedString(v.as_bool() ? "True" : "False");
    case Value::Type::kInt:
      return TrackedString(std::to_string(v.as_int()));
    case Value::Type::kFloat:
      return TrackedString(float_repr(v.as_double()));
    case Value::Type::kString:
      return string_repr(v.as_tracked());
    case Value::Type::kList: {
      TrackedString out("[");
      append_joined(out, v.as_list());
      out.append("]");
      return out;
    }
    case Value::Type::kTuple: {
      TrackedString out("(");
      append_joined(out, v.as_list());
      if (v.as_list().size() == 1) out.append(",");
      out.append(")");
      return out;
    }
    case Value::Type::kDict:
    case Value::Type::kNamespace: {
      TrackedString out(v.is_namespace() ? "<Namespace {" : "{");
      bool first = true;
      for (const auto& [key, value] : v.as_dict().items()) {
        if (!first) out.append(", ");
        first = false;
        out.append(to_repr(key));
        out.append(": ");
        out.append(to_repr(value));
        ValueBudget::check_bytes(out.size());
      }
      out.append(v.is_namespace() ? "}>" : "}");
      return out;
    }
    case Value::Type::kCallable:
      return TrackedString(v.as_callable().repr());
    case Value::Type::kLoop: {
      const auto& loop = v.as_loop();
      return TrackedString(str("<LoopContext ", loop.index0 + 1, "/", loop.items->size(), ">"));
    }
    case Value::Type::kGenerator:
      return TrackedString("<generator object " + v.as_generator().name + ">");
  }
  return TrackedString();
}

TrackedString to_str(const Value& v) {
  if (v.is_string()) return v.as_tracked();
  if (v.is_undefined()) return TrackedString();
  return to_repr(v);
}

// ---- equality and ordering --------------------------------------------------------------------------------

namespace {

// Exact comparison of two Python numbers (bool/int/float): <0, 0, >0; NaN compares unordered (returns 2).
int compare_numbers(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const double x = a.as_double(), y = b.as_double();
  if (std::isnan(x) || std::isnan(y)) return 2;
  if (x < y) return -1;
  if (x > y) return 1;
  // Equal as doubles: an int beyond 2^53 may still differ from the float; compare exactly then.
  const Value& i = a.is_float() ? b : a;
  const Value& f = a.is_float() ? a : b;
  if (i.is_float() || std::fabs(f.as_double()) < 9007199254740992.0) return 0;
  if (f.as_double() >= 9223372036854775808.0) return a.is_float() ? 1 : -1;
  if (f.as_double() < -9223372036854775808.0) return a.is_float() ? -1 : 1;
  const int64_t fi = static_cast<int64_t>(f.as_double());
  const int64_t ii = i.as_int();
  const int c = ii < fi ? -1 : ii > fi ? 1 : 0;
  return a.is_float() ? -c : c;
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  NestingGuard guard;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.as_string() == b.as_string();
    case Value::Type::kList:
    case Value::Type::kTuple: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case Value::Type::kDict: {
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.items()) {
        const Value* other = y.find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

int compare(const Value& a, const Value& b, const char* op) {
  NestingGuard guard;
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    const int c = compare_numbers(a, b);
    return c == 2 ? 3 : c;  // NaN: callers treat 3 as "every ordering is false"
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  type_error(
      str("'", op, "' not supported between instances of '", type_name(a), "' and '", type_name(b), "'"));
}

std::string type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return "Undefined";
    case Value::Type::kNone:
      return "NoneType";
    case Value::Type::kBool:
      return "bool";
    case Value::Type::kInt:
      return "int";
    case Value::Type::kFloat:
      return "float";
    case Value::Type::kString:
      return "str";
    case Value::Type::kList:
      return "list";
    case Value::Type::kTuple:
      return "tuple";
    case Value::Type::kDict:
      return "dict";
    case Value::Type::kNamespace:
      return "Namespace";
    case Value::Type::kCallable:
      return "function";
    case Value::Type::kLoop:
      return "LoopContext";
    case Value::Type::kGenerator:
      return "generator";
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNone:
      return "None";
    case Value::Type::kUndefined:
      return "jinja2.runtime.Undefined object";
    case Value::Type::kNamespace:
      return "jinja2.utils.Namespace object";
    case Value::Type::kLoop:
      return "jinja2.runtime.LoopContext object";
    default:
      return type_name(v) + " object";
  }
}

void fail_undefined(const Value& v) {
  const UndefinedInfo* info = v.undefined_info();
  if (!info) raise(ErrorKind::kUndefined, "undefined value");
  raise(info->kind, info->message);
}

}  // namespace vlm::text::jinja
