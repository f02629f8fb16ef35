#include "text/jinja_pyformat.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

// ---- float repr -------------------------------------------------------------------------------------------

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  char buf[64];
  // Shortest round-trip digits in scientific form: [-]d[.ddd]e[+-]xx
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::atoi(sci.c_str() + e + 1);
  const int decpt = exp10 + 1;  // position of the decimal point relative to the digits
  std::string out = sign;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return out + ebuf;
}

// ---- parsing ----------------------------------------------------------------------------------------------

namespace {

std::string_view strip_ws(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    const auto d = unicode::decode(s, b);
    if (!unicode::is_space(d.cp)) break;
    b += d.len;
  }
  while (e > b) {
    size_t k = e - 1;
    while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    if (!unicode::is_space(unicode::decode(s, k).cp)) break;
    e = k;
  }
  return s.substr(b, e - b);
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Removes '_' separators that Python allows between digits; nullopt if one is misplaced.
std::optional<std::string> remove_underscores(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || s[i - 1] == '_' || digit_value(s[i - 1]) > 35 ||
          digit_value(s[i + 1]) > 35)
        return std::nullopt;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::optional<int64_t> parse_python_int(std::string_view text, int base) {
  std::string_view s = strip_ws(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() >= 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == 0 || base == prefixed)) {
      base = prefixed;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (s.empty() || base < 2 || base > 36) return std::nullopt;
  auto digits = remove_underscores(s);
  if (!digits || digits->empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : *digits) {
    const int d = digit_value(c);
    if (d >= base) return std::nullopt;
    if (value > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return std::nullopt;
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  if (negative) {
    if (value > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<int64_t>(0 - value);
  }
  if (value > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(value);
}

std::optional<double> parse_python_float(std::string_view text) {
  std::string_view s = strip_ws(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string lower;
  for (char c : s) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lower == "inf" || lower == "infinity") return negative ? -INFINITY : INFINITY;
  if (lower == "nan") return NAN;
  // Validate the shape: digits [. digits] [e [sign] digits], at least one digit in the mantissa.
  size_t i = 0, mantissa_digits = 0;
  auto digits_run = [&](size_t& n) {
    while (i < lower.size() && ((lower[i] >= '0' && lower[i] <= '9') || lower[i] == '_')) {
      if (lower[i] != '_') ++n;
      ++i;
    }
  };
  digits_run(mantissa_digits);
  if (i < lower.size() && lower[i] == '.') {
    ++i;
    digits_run(mantissa_digits);
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < lower.size() && lower[i] == 'e') {
    ++i;
    if (i < lower.size() && (lower[i] == '+' || lower[i] == '-')) ++i;
    size_t exp_digits = 0;
    digits_run(exp_digits);
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != lower.size()) return std::nullopt;
  // '_' must sit between two digits.
  for (size_t k = 0; k < lower.size(); ++k) {
    if (lower[k] != '_') continue;
    if (k == 0 || k + 1 == lower.size() || !std::isdigit(static_cast<unsigned char>(lower[k - 1])) ||
        !std::isdigit(static_cast<unsigned char>(lower[k + 1])))
      return std::nullopt;
  }
  std::string clean;
  for (char c : lower)
    if (c != '_') clean += c;
  double value = 0;
  auto res = std::from_chars(clean.data(), clean.data() + clean.size(), value);
  if (res.ec == std::errc::result_out_of_range) {
    // Overflow gives inf, underflow 0 in Python.
    const bool tiny = clean.find("e-") != std::string::npos;
    value = tiny ? 0.0 : INFINITY;
  } else if (res.ec != std::errc() || res.ptr != clean.data() + clean.size()) {
    return std::nullopt;
  }
  return negative ? -value : value;
}

}  // namespace vlm::text::jinja
