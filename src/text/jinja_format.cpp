// Python's string formatting: the % operator (and the format filter built on it) and str.format(), sharing
// one implementation of format specs (fill, align, sign, width, ',', precision, type).
#include <cmath>
#include <cstdio>
#include <cstring>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

// ---- shared padding ---------------------------------------------------------------------------------------

namespace {

// Widths and precisions above this are refused (Python would try to build the string and run out of memory).
constexpr size_t kMaxFormatWidth = size_t{1} << 20;

size_t bounded(size_t v) {
  if (v > kMaxFormatWidth) raise(ErrorKind::kLimit, str("format width or precision above ", kMaxFormatWidth));
  return v;
}

struct Spec {
  char fill = ' ';
  char align = 0;  // '<', '>', '^', '=' or 0 (type default)
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  size_t width = 0;
  bool thousands = false;
  int precision = -1;
  char type = 0;
};

std::string pad(std::string body, const Spec& spec, bool numeric) {
  const size_t len = unicode::count_code_points(body);
  if (len >= spec.width) return body;
  const size_t n = spec.width - len;
  char align = spec.align ? spec.align : (numeric ? '>' : '<');
  char fill = spec.fill;
  if (spec.zero && !spec.align && numeric) {
    align = '=';
    fill = '0';
  }
  if (align == '<') return body + std::string(n, fill);
  if (align == '^') return std::string(n / 2, fill) + body + std::string(n - n / 2, fill);
  if (align == '=' && !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' '))
    return body.substr(0, 1) + std::string(n, fill) + body.substr(1);
  return std::string(n, fill) + body;
}

std::string group_thousands(const std::string& digits) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_int(int64_t v, const Spec& spec) {
  const bool neg = v < 0;
  const uint64_t mag = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  char buf[80];
  const char t = spec.type ? spec.type : 'd';
  std::string digits;
  if (t == 'x' || t == 'X') {
    std::snprintf(buf, sizeof buf, t == 'x' ? "%llx" : "%llX", static_cast<unsigned long long>(mag));
    digits = (spec.alternate ? (t == 'x' ? "0x" : "0X") : "") + std::string(buf);
  } else if (t == 'o') {
    std::snprintf(buf, sizeof buf, "%llo", static_cast<unsigned long long>(mag));
    digits = (spec.alternate ? "0o" : "") + std::string(buf);
  } else if (t == 'b') {
    for (uint64_t m = mag; m; m >>= 1) digits.insert(digits.begin(), static_cast<char>('0' + (m & 1)));
    if (digits.empty()) digits = "0";
    if (spec.alternate) digits = "0b" + digits;
  } else {
    digits = std::to_string(mag);
    if (spec.thousands) digits = group_thousands(digits);
  }
  const std::string sign = neg ? "-" : spec.sign == '+' ? "+" : spec.sign == ' ' ? " " : "";
  return pad(sign + digits, spec, true);
}

std::string format_double(double v, const Spec& spec) {
  char t = spec.type;
  int precision = spec.precision;
  if (!t) {
    if (precision < 0) {
      std::string r = float_repr(std::fabs(v));
      const std::string sign = std::signbit(v) && !std::isnan(v) ? "-"
                               : spec.sign == '+'                ? "+"
                               : spec.sign == ' '                ? " "
                                                                 : "";
      return pad(sign + r, spec, true);
    }
    t = 'g';
  }
  if (precision < 0) precision = 6;
  std::string body;
  const double mag = std::fabs(v);
  char buf[512];
  if (t == '%') {
    std::snprintf(buf, sizeof buf, "%.*f", precision, mag * 100.0);
    body = std::string(buf) + "%";
  } else {
    const char fmt[] = {'%', '.', '*', t == 'F' ? 'f' : t, 0};
    std::snprintf(buf, sizeof buf, fmt, precision, mag);
    body = buf;
    if (!spec.type && body.find_first_of(".einf") == std::string::npos) body += ".0";
  }
  if (spec.thousands && !std::isinf(mag) && !std::isnan(mag)) {
    const size_t end = body.find_first_not_of("0123456789");
    body = group_thousands(body.substr(0, end)) + (end == std::string::npos ? "" : body.substr(end));
  }
  const std::string sign = std::signbit(v) && !std::isnan(v) ? "-"
                           : spec.sign == '+'                ? "+"
                           : spec.sign == ' '                ? " "
                                                             : "";
  return pad(sign + body, spec, true);
}

// Formats one value by spec; strings keep their provenance when no padding/truncation applies.
TrackedString format_value(const Value& v, Spec spec, char conversion) {
  if (conversion == 'r') return TrackedString(pad(to_repr(v).text(), spec, false));
  const char t = spec.type;
  if (t == 0 || t == 's') {
    if (t == 0 && (v.is_int() || v.is_bool()) && !v.is_bool())
      return TrackedString(format_int(v.as_int(), spec));
    if (t == 0 && v.is_float()) return TrackedString(format_double(v.as_double(), spec));
    TrackedString s = to_str(v);
    if (spec.precision >= 0)
      s = s.substr(0, unicode::byte_offset(s.text(), static_cast<size_t>(spec.precision)));
    if (spec.width <= unicode::count_code_points(s.text())) return s;
    const bool content = s.all_content();
    return TrackedString(pad(s.text(), spec, false), content);
  }
  if (t == 'c') {
    std::string out;
    if (v.is_string() && unicode::count_code_points(v.as_string()) == 1) {
      out = v.as_string();
    } else if (v.is_int()) {
      unicode::append_utf8(out, static_cast<char32_t>(v.as_int()));
    } else {
      type_error("%c requires int or char");
    }
    return TrackedString(pad(out, spec, false));
  }
  if (!v.is_number()) {
    type_error(str("%", t, " format: a real number is required, not ", type_name(v)));
  }
  if (t == 'd' || t == 'i' || t == 'u' || t == 'x' || t == 'X' || t == 'o' || t == 'b') {
    if (v.is_float() && t != 'd' && t != 'i' && t != 'u')
      type_error(str("%", t, " format: an integer is required, not float"));
    const double d = v.as_double();
    if (v.is_float() && (std::isnan(d) || std::isinf(d)))
      type_error("cannot convert float NaN or infinity to integer");
    Spec s = spec;
    if (t == 'i' || t == 'u') s.type = 'd';
    return TrackedString(format_int(v.is_float() ? static_cast<int64_t>(d) : v.as_int(), s));
  }
  return TrackedString(format_double(v.as_double(), spec));
}

}  // namespace

// ---- % formatting -----------------------------------------------------------------------------------------

TrackedString percent_format(const TrackedString& format, const Value& args) {
  const std::string& f = format.text();
  const ValueList single{args};
  const ValueList& values = args.is_tuple() ? args.as_list() : single;
  size_t next = 0;
  TrackedString out;
  size_t literal_start = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') continue;
    out.append(format.substr(literal_start, i));
    ++i;
    if (i >= f.size()) type_error("incomplete format");
    Spec spec;
    spec.align = 0;
    const Value* value = nullptr;
    if (f[i] == '(') {
      const size_t close = f.find(')', i);
      if (close == std::string::npos) type_error("incomplete format key");
      if (!args.is_dict()) type_error("format requires a mapping");
      value = args.as_dict().find(std::string_view(f).substr(i + 1, close - i - 1));
      if (!value) raise(ErrorKind::kRuntime, "KeyError: " + f.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    for (; i < f.size() && std::strchr("-+ #0", f[i]); ++i) {
      if (f[i] == '-') spec.align = '<';
      if (f[i] == '+') spec.sign = '+';
      if (f[i] == ' ' && spec.sign != '+') spec.sign = ' ';
      if (f[i] == '#') spec.alternate = true;
      if (f[i] == '0') spec.zero = true;
    }
    if (spec.align == '<') spec.zero = false;
    for (; i < f.size() && std::isdigit(static_cast<unsigned char>(f[i])); ++i)
      spec.width = bounded(spec.width * 10 + static_cast<size_t>(f[i] - '0'));
    if (i < f.size() && f[i] == '.') {
      spec.precision = 0;
      for (++i; i < f.size() && std::isdigit(static_cast<unsigned char>(f[i])); ++i)
        spec.precision = static_cast<int>(
            bounded(static_cast<size_t>(spec.precision) * 10 + static_cast<size_t>(f[i] - '0')));
    }
    if (i >= f.size()) type_error("incomplete format");
    const char conv = f[i];
    literal_start = i + 1;
    if (conv == '%') {
      out.append("%");
      continue;
    }
    if (!std::strchr("srdiufFeEgGxXoc", conv)) type_error(str("unsupported format character '", conv, "'"));
    if (!value) {
      if (next >= values.size()) type_error("not enough arguments for format string");
      value = &values[next++];
    }
    if (spec.zero && spec.align == 0 && (conv == 's' || conv == 'r')) spec.zero = false;
    if (conv == 'r') {
      out.append(format_value(*value, spec, 'r'));
    } else {
      spec.type = conv == 's' ? 's' : conv;
      if (conv == 's' && !spec.align) spec.align = '>';
      out.append(format_value(*value, spec, 0));
    }
  }
  out.append(format.substr(literal_start, f.size()));
  if (!args.is_dict() && next < values.size())
    type_error("not all arguments converted during string formatting");
  return out;
}

// ---- str.format -------------------------------------------------------------------------------------------

TrackedString str_format(const TrackedString& format, const CallArgs& args) {
  const std::string& f = format.text();
  TrackedString out;
  size_t auto_index = 0;
  size_t literal_start = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out.append(format.substr(literal_start, i + 1));
        literal_start = ++i + 1;
        continue;
      }
      type_error("Single '}' encountered in format string");
    }
    if (f[i] != '{') continue;
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out.append(format.substr(literal_start, i + 1));
      literal_start = ++i + 1;
      continue;
    }
    out.append(format.substr(literal_start, i));
    const size_t close = f.find('}', i);
    if (close == std::string::npos) type_error("expected '}' before end of string");
    std::string field = f.substr(i + 1, close - i - 1);
    std::string spec_text;
    char conversion = 0;
    if (auto colon = field.find(':'); colon != std::string::npos) {
      spec_text = field.substr(colon + 1);
      field.resize(colon);
    }
    if (auto bang = field.find('!'); bang != std::string::npos) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.resize(bang);
    }
    const Value* value = nullptr;
    if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
      size_t index = auto_index;
      if (field.empty()) {
        ++auto_index;
      } else {
        const auto parsed = parse_python_int(field);
        if (!parsed || *parsed < 0) type_error("Invalid format field '" + field + "'");
        index = static_cast<size_t>(*parsed);
      }
      if (index >= args.positional.size())
        raise(ErrorKind::kRuntime, str("IndexError: Replacement index ", index, " out of range"));
      value = &args.positional[index];
    } else {
      for (const auto& [name, v] : args.keyword)
        if (name == field) value = &v;
      if (!value) raise(ErrorKind::kRuntime, "KeyError: '" + field + "'");
    }
    Spec spec;
    size_t k = 0;
    const std::string& s = spec_text;
    if (s.size() >= 2 && std::strchr("<>^=", s[1])) {
      spec.fill = s[0];
      spec.align = s[1];
      k = 2;
    } else if (!s.empty() && std::strchr("<>^=", s[0])) {
      spec.align = s[0];
      k = 1;
    }
    if (k < s.size() && std::strchr("+- ", s[k])) spec.sign = s[k++];
    if (k < s.size() && s[k] == '#') spec.alternate = true, ++k;
    if (k < s.size() && s[k] == '0') spec.zero = true, ++k;
    for (; k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); ++k)
      spec.width = bounded(spec.width * 10 + static_cast<size_t>(s[k] - '0'));
    if (k < s.size() && s[k] == ',') spec.thousands = true, ++k;
    if (k < s.size() && s[k] == '.') {
      spec.precision = 0;
      for (++k; k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); ++k)
        spec.precision = static_cast<int>(
            bounded(static_cast<size_t>(spec.precision) * 10 + static_cast<size_t>(s[k] - '0')));
    }
    if (k < s.size()) spec.type = s[k++];
    if (k != s.size()) type_error("Invalid format specifier '" + spec_text + "'");
    if (spec.type && !std::strchr("sdfFeEgGxXob%c", spec.type))
      type_error("Invalid format specifier '" + spec_text + "'");
    if (spec.type == 's' && !value->is_string()) {
      if (!value->is_undefined() && !value->is_none())
        type_error("Unknown format code 's' for object of type '" + type_name(*value) + "'");
    }
    out.append(format_value(*value, spec, conversion));
    literal_start = close + 1;
    i = close;
  }
  out.append(format.substr(literal_start, f.size()));
  return out;
}

}  // namespace vlm::text::jinja
