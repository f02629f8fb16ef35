#include "text/jinja_lexer.h"

#include <algorithm>
#include <cstring>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

// ---- source map -------------------------------------------------------------------------------------------

SourceMap::SourceMap(std::string origin, std::string normalized)
    : origin_(std::move(origin)), text_(std::move(normalized)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

SourceLoc SourceMap::loc(size_t offset) const {
  offset = std::min(offset, text_.size());
  const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line = static_cast<size_t>(it - line_starts_.begin());
  const size_t start = line_starts_[line - 1];
  const size_t column = unicode::count_code_points(std::string_view(text_).substr(start, offset - start)) + 1;
  return {static_cast<uint32_t>(line), static_cast<uint32_t>(column)};
}

std::string normalize_template_source(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      out += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      out += raw[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// ---- lexer ------------------------------------------------------------------------------------------------

namespace {

class Lexer {
 public:
  explicit Lexer(const SourceMap& source) : map_(source), s_(source.text()) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) lex_root();
    tokens_.push_back({TokenType::kEof, "", 0, 0, s_.size()});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(size_t offset, const std::string& message) const {
    throw JinjaError(ErrorKind::kSyntax, map_.origin(), map_.loc(offset), message);
  }

  bool starts_with(size_t at, const char* lit) const {
    const size_t n = std::strlen(lit);
    return at + n <= s_.size() && s_.compare(at, n, lit) == 0;
  }

  // Length of the whitespace (Python \s) run at `at`.
  size_t space_run(size_t at) const {
    size_t i = at;
    while (i < s_.size()) {
      const auto d = unicode::decode(s_, i);
      if (!unicode::is_space(d.cp)) break;
      i += d.len;
    }
    return i - at;
  }

  static bool all_space(std::string_view t) {
    for (size_t i = 0; i < t.size();) {
      const auto d = unicode::decode(t, i);
      if (!unicode::is_space(d.cp)) return false;
      i += d.len;
    }
    return true;
  }

  static std::string_view rstrip(std::string_view t) {
    size_t e = t.size();
    while (e > 0) {
      size_t k = e - 1;
      while (k > 0 && (static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) --k;
      if (!unicode::is_space(unicode::decode(t, k).cp)) break;
      e = k;
    }
    return t.substr(0, e);
  }

  // jinja2's OptionalLStrip: the data before a tag, given the tag's whitespace-control sign.
  std::string_view strip_before_tag(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip(text);
    if (sign != '+' && !is_variable) {  // lstrip_blocks
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() && all_space(text.substr(l_pos)))
        return text.substr(0, l_pos);
    }
    return text;
  }

  void emit_data(std::string_view text, size_t offset) {
    if (!text.empty()) tokens_.push_back({TokenType::kData, std::string(text), 0, 0, offset});
  }

  // After a tag end: "-" strips all following whitespace, "+" nothing, plain trims one newline (trim_blocks,
  // only for block and comment tags).
  void after_tag_end(size_t end, char sign, bool trim_newline) {
    pos_ = end;
    if (sign == '-') {
      pos_ += space_run(pos_);
    } else if (sign != '+' && trim_newline && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = s_[pos_ - 1] == '\n';  // the last byte of the tag-end match
  }

  void lex_root() {
    size_t t = pos_;
    while (t + 1 < s_.size() && !(s_[t] == '{' && (s_[t + 1] == '{' || s_[t + 1] == '%' || s_[t + 1] == '#')))
      ++t;
    if (t + 1 >= s_.size()) {
      emit_data(std::string_view(s_).substr(pos_), pos_);
      pos_ = s_.size();
      return;
    }
    const char kind = s_[t + 1];
    size_t p = t + 2;
    char sign = 0;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    const std::string_view text = std::string_view(s_).substr(pos_, t - pos_);
    emit_data(strip_before_tag(text, sign, kind == '{'), pos_);
    if (kind == '#') return lex_comment(t, p);
    if (kind == '%') {
      size_t q = p + space_run(p);
      if (starts_with(q, "raw")) {
        q += 3;
        q += space_run(q);
        if (starts_with(q, "-%}")) return lex_raw(q + 3 + space_run(q + 3));
        if (starts_with(q, "%}")) return lex_raw(q + 2);
      }
    }
    tokens_.push_back({kind == '{' ? TokenType::kVariableBegin : TokenType::kBlockBegin, "", 0, 0, t});
    pos_ = p;
    line_starting_ = false;
    lex_tag(kind == '{', t);
  }

  void lex_comment(size_t start, size_t body) {
    for (size_t j = body; j + 1 < s_.size(); ++j) {
      if (starts_with(j, "+#}")) return after_tag_end(j + 3, '+', true);
      if (starts_with(j, "-#}")) return after_tag_end(j + 3, '-', true);
      if (starts_with(j, "#}")) return after_tag_end(j + 2, 0, true);
    }
    fail(start, "Missing end of comment tag");
  }

  void lex_raw(size_t body) {
    pos_ = body;
    line_starting_ = body > 0 && s_[body - 1] == '\n';
    for (size_t j = body; j + 1 < s_.size(); ++j) {
      if (!starts_with(j, "{%")) continue;
      size_t q = j + 2;
      char sign = 0;
      if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) sign = s_[q++];
      q += space_run(q);
      if (!starts_with(q, "endraw")) continue;
      q += 6;
      q += space_run(q);
      char end_sign = 0;
      size_t end;
      if (starts_with(q, "+%}")) {
        end_sign = '+', end = q + 3;
      } else if (starts_with(q, "-%}")) {
        end_sign = '-', end = q + 3;
      } else if (starts_with(q, "%}")) {
        end = q + 2;
      } else {
        continue;
      }
      emit_data(strip_before_tag(std::string_view(s_).substr(body, j - body), sign, false), body);
      return after_tag_end(end, end_sign, true);
    }
    fail(body, "Missing end of raw directive");
  }

  void lex_tag(bool is_variable, size_t tag_start) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= s_.size()) return;  // the parser reports the missing end tag
      if (balance.empty()) {
        if (is_variable) {
          if (starts_with(pos_, "-}}")) return end_tag(TokenType::kVariableEnd, pos_ + 3, '-', false);
          if (starts_with(pos_, "}}")) return end_tag(TokenType::kVariableEnd, pos_ + 2, 0, false);
        } else {
          if (starts_with(pos_, "+%}")) return end_tag(TokenType::kBlockEnd, pos_ + 3, '+', true);
          if (starts_with(pos_, "-%}")) return end_tag(TokenType::kBlockEnd, pos_ + 3, '-', true);
          if (starts_with(pos_, "%}")) return end_tag(TokenType::kBlockEnd, pos_ + 2, 0, true);
        }
      }
      if (const size_t ws = space_run(pos_)) {
        pos_ += ws;
        continue;
      }
      const char c = s_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else if (is_name_start(pos_)) {
        lex_name();
      } else {
        lex_operator(balance);
      }
    }
  }

  void end_tag(TokenType type, size_t end, char sign, bool trim) {
    tokens_.push_back({type, "", 0, 0, pos_});
    after_tag_end(end, sign, trim);
  }

  bool is_name_start(size_t at) const {
    const auto d = unicode::decode(s_, at);
    return d.cp == '_' || (d.cp < 0x80 ? std::isalpha(static_cast<int>(d.cp)) != 0 : unicode::is_alpha(d.cp));
  }

  void lex_name() {
    const size_t start = pos_;
    while (pos_ < s_.size()) {
      const auto d = unicode::decode(s_, pos_);
      const bool ok = d.cp == '_' || (d.cp < 0x80 ? std::isalnum(static_cast<int>(d.cp)) != 0
                                                  : unicode::is_alpha(d.cp) || unicode::is_decimal(d.cp));
      if (!ok) break;
      pos_ += d.len;
    }
    tokens_.push_back({TokenType::kName, s_.substr(start, pos_ - start), 0, 0, start});
  }

  // Digits with single '_' separators starting at i; returns the end (i when there are none).
  size_t digit_run(size_t i) const {
    size_t j = i;
    while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) {
      ++j;
      if (j + 1 < s_.size() && s_[j] == '_' && std::isdigit(static_cast<unsigned char>(s_[j + 1]))) ++j;
    }
    return j;
  }

  void lex_number() {
    const size_t start = pos_;
    // Float: digits then (.digits)? e[+-]digits, or digits.digits; not right after a '.' (foo.0.1).
    if (start == 0 || s_[start - 1] != '.') {
      size_t j = digit_run(start);
      size_t frac_end = j;
      if (j < s_.size() && s_[j] == '.') {
        const size_t k = digit_run(j + 1);
        if (k > j + 1) frac_end = k;
      }
      size_t end = 0;
      size_t e = frac_end;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t k = e + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        const size_t d = digit_run(k);
        if (d > k) end = d;
      }
      if (!end && frac_end > j) end = frac_end;
      if (end) {
        const std::string spelled = s_.substr(start, end - start);
        tokens_.push_back({TokenType::kFloat, spelled, 0, parse_python_float(spelled).value_or(0.0), start});
        pos_ = end;
        return;
      }
    }
    // Integer: 0b/0o/0x literals, [1-9](_?\d)*, or 0(_?0)*.
    size_t end = 0;  // 0 = not matched yet (a literal never ends at offset 0)
    int base = 10;
    if (s_[start] == '0' && start + 1 < s_.size() && s_[start + 1] != 0 &&
        std::strchr("bBoOxX", s_[start + 1])) {
      const char p = static_cast<char>(s_[start + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
      size_t j = start + 2;
      auto is_digit_of = [&](char ch) {
        const int v = std::isdigit(static_cast<unsigned char>(ch))   ? ch - '0'
                      : std::isalpha(static_cast<unsigned char>(ch)) ? (ch | 0x20) - 'a' + 10
                                                                     : 99;
        return v < base;
      };
      while (j < s_.size()) {
        if (s_[j] == '_' && j + 1 < s_.size() && is_digit_of(s_[j + 1])) {
          j += 2;
        } else if (is_digit_of(s_[j])) {
          ++j;
        } else {
          break;
        }
      }
      if (j > start + 2) end = j;
    }
    if (!end) {
      base = 10;
      if (s_[start] == '0') {
        end = start + 1;
        while (end < s_.size() &&
               (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0')))
          end += s_[end] == '_' ? 2 : 1;
      } else {
        end = digit_run(start);
      }
    }
    const std::string spelled = s_.substr(start, end - start);
    const auto value = parse_python_int(spelled, base == 10 ? 10 : 0);
    if (!value) fail(start, "integer literal " + spelled + " does not fit in 64 bits");
    tokens_.push_back({TokenType::kInteger, spelled, *value, 0, start});
    pos_ = end;
  }

  void lex_string() {
    const size_t start = pos_;
    const char quote = s_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= s_.size()) fail(start, "unterminated string literal");
      const char c = s_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        value += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= s_.size()) fail(start, "unterminated string literal");
      decode_escape(value, start);
    }
    tokens_.push_back({TokenType::kString, std::move(value), 0, 0, start});
  }

  // Python's "unicode-escape" decoding of one backslash sequence at pos_.
  void decode_escape(std::string& out, size_t literal_start) {
    const char e = s_[pos_ + 1];
    pos_ += 2;
    auto hex = [&](size_t digits) {
      char32_t cp = 0;
      for (size_t k = 0; k < digits; ++k) {
        const char h = pos_ + k < s_.size() ? s_[pos_ + k] : 0;
        const int v = std::isxdigit(static_cast<unsigned char>(h))
                          ? (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10)
                          : -1;
        if (v < 0) fail(literal_start, str("truncated \\", e, " escape in string literal"));
        cp = cp * 16 + static_cast<char32_t>(v);
      }
      pos_ += digits;
      if (cp > 0x10FFFF) fail(literal_start, "illegal Unicode character in string literal");
      unicode::append_utf8(out, cp);
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        hex(2);
        break;
      case 'u':
        hex(4);
        break;
      case 'U':
        hex(8);
        break;
      case 'N':
        fail(literal_start, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          char32_t cp = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++k)
            cp = cp * 8 + static_cast<char32_t>(s_[pos_++] - '0');
          unicode::append_utf8(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }

  void lex_operator(std::vector<char>& balance) {
    static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                       "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
    for (const char* op : kOps) {
      if (!starts_with(pos_, op)) continue;
      const char c = op[0];
      if (!op[1]) {
        if (c == '(' || c == '[' || c == '{') balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        if (c == ')' || c == ']' || c == '}') {
          if (balance.empty()) fail(pos_, str("unexpected '", c, "'"));
          if (balance.back() != c) fail(pos_, str("unexpected '", c, "', expected '", balance.back(), "'"));
          balance.pop_back();
        }
      }
      tokens_.push_back({TokenType::kOperator, op, 0, 0, pos_});
      pos_ += std::strlen(op);
      return;
    }
    const auto d = unicode::decode(s_, pos_);
    fail(pos_, "unexpected char " + quote(s_.substr(pos_, d.len)));
  }

  const SourceMap& map_;
  const std::string& s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const SourceMap& source) {
  return Lexer(source).run();
}

}  // namespace vlm::text::jinja
