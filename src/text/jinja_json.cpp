#include "text/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

// ---- JSON -> values ---------------------------------------------------------------------------------------

namespace {

template <typename J>
Value from_json_impl(const J& j, bool content) {
  NestingGuard guard;
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>(), content);
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_impl(x, content));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it)
        d.set(Value::string(it.key(), content), from_json_impl(it.value(), content));
      return Value::dict(std::move(d));
    }
    default:
      return Value::none();  // binary / discarded values do not occur in parsed JSON
  }
}

}  // namespace

Value value_from_json(const nlohmann::ordered_json& j, bool content) {
  return from_json_impl(j, content);
}
Value value_from_json(const nlohmann::json& j, bool content) {
  return from_json_impl(j, content);
}

// ---- values -> JSON text ----------------------------------------------------------------------------------

namespace {

void append_escaped(TrackedString& out, const TrackedString& s, bool ensure_ascii) {
  out.append("\"");
  TrackedString::ContentCursor cursor(s);
  const std::string& t = s.text();
  std::string piece;
  for (size_t i = 0; i < t.size();) {
    const auto d = unicode::decode(t, i);
    piece.clear();
    const char32_t c = d.cp;
    char buf[16];
    switch (c) {
      case '"':
        piece = "\\\"";
        break;
      case '\\':
        piece = "\\\\";
        break;
      case '\n':
        piece = "\\n";
        break;
      case '\r':
        piece = "\\r";
        break;
      case '\t':
        piece = "\\t";
        break;
      case '\b':
        piece = "\\b";
        break;
      case '\f':
        piece = "\\f";
        break;
      default:
        if (c < 0x20) {
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          piece = buf;
        } else if (ensure_ascii && c > 0x7E) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          }
          piece = buf;
        } else {
          piece.assign(t, i, d.len);
        }
    }
    out.append(piece, cursor.is_content(i));
    i += d.len;
  }
  out.append("\"");
}

std::string float_json(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
  return float_repr(f);
}

[[noreturn]] void not_serializable(const Value& v) {
  std::string name = type_name(v);
  if (v.is_callable()) name = "function";
  type_error("Object of type " + name + " is not JSON serializable");
}

TrackedString key_text(const Value& k) {
  switch (k.type()) {
    case Value::Type::kString:
      return k.as_tracked();
    case Value::Type::kInt:
      return TrackedString(std::to_string(k.as_int()));
    case Value::Type::kFloat:
      return TrackedString(float_json(k.as_double()));
    case Value::Type::kBool:
      return TrackedString(k.as_bool() ? "true" : "false");
    case Value::Type::kNone:
      return TrackedString("null");
    default:
      type_error("keys must be str, int, float, bool or None, not " + type_name(k));
  }
}

void dump(TrackedString& out, const Value& v, const JsonDumpOptions& o, int level) {
  NestingGuard guard;
  auto newline = [&](int lvl) {
    std::string s = "\n";
    for (int i = 0; i < lvl; ++i) s += *o.indent;
    out.append(s);
  };
  switch (v.type()) {
    case Value::Type::kNone:
      out.append("null");
      return;
    case Value::Type::kBool:
      out.append(v.as_bool() ? "true" : "false");
      return;
    case Value::Type::kInt:
      out.append(std::to_string(v.as_int()));
      return;
    case Value::Type::kFloat:
      out.append(float_json(v.as_double()));
      return;
    case Value::Type::kString:
      append_escaped(out, v.as_tracked(), o.ensure_ascii);
      return;
    case Value::Type::kList:
    case Value::Type::kTuple: {
      const auto& items = v.as_list();
      if (items.empty()) {
        out.append("[]");
        return;
      }
      out.append("[");
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.append(o.item_separator);
        if (o.indent) newline(level + 1);
        dump(out, items[i], o, level + 1);
        ValueBudget::check_bytes(out.size());
      }
      if (o.indent) newline(level);
      out.append("]");
      return;
    }
    case Value::Type::kDict: {
      const auto& dict_items = v.as_dict().items();
      if (dict_items.empty()) {
        out.append("{}");
        return;
      }
      std::vector<std::pair<TrackedString, const Value*>> entries;
      for (const auto& [k, x] : dict_items) entries.push_back({key_text(k), &x});
      if (o.sort_keys) {
        for (const auto& [k, x] : dict_items)
          if (!k.is_string()) type_error("'<' not supported between keys of different types");
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first.text() < b.first.text(); });
      }
      out.append("{");
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out.append(o.item_separator);
        if (o.indent) newline(level + 1);
        append_escaped(out, entries[i].first, o.ensure_ascii);
        out.append(o.key_separator);
        dump(out, *entries[i].second, o, level + 1);
        ValueBudget::check_bytes(out.size());
      }
      if (o.indent) newline(level);
      out.append("}");
      return;
    }
    default:
      not_serializable(v);
  }
}

}  // namespace

TrackedString json_dumps(const Value& v, const JsonDumpOptions& options) {
  TrackedString out;
  dump(out, v, options, 0);
  return out;
}

}  // namespace vlm::text::jinja
