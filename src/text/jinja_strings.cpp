#include "text/jinja_strings.h"

#include <algorithm>

#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

namespace {

struct CodePoint {
  char32_t cp;
  size_t begin, end;  // byte range
};

std::vector<CodePoint> code_points(const std::string& s) {
  std::vector<CodePoint> out;
  for (size_t i = 0; i < s.size();) {
    const auto d = unicode::decode(s, i);
    out.push_back({d.cp, i, i + d.len});
    i += d.len;
  }
  return out;
}

std::vector<char32_t> decode_all(const std::string& s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto d = unicode::decode(s, i);
    out.push_back(d.cp);
    i += d.len;
  }
  return out;
}

}  // namespace

TrackedString change_case(const TrackedString& s, CaseMap mode) {
  TrackedString out;
  TrackedString::ContentCursor cursor(s);
  bool previous_cased = false;
  bool first = true;
  std::string piece;
  for (const auto& c : code_points(s.text())) {
    piece.clear();
    switch (mode) {
      case CaseMap::kUpper:
        unicode::append_upper(piece, c.cp);
        break;
      case CaseMap::kLower:
        unicode::append_lower(piece, c.cp);
        break;
      case CaseMap::kSwap:
        if (unicode::is_upper(c.cp)) {
          unicode::append_lower(piece, c.cp);
        } else if (unicode::is_lower(c.cp)) {
          unicode::append_upper(piece, c.cp);
        } else {
          unicode::append_utf8(piece, c.cp);
        }
        break;
      case CaseMap::kTitleWords:
        if (previous_cased) {
          unicode::append_lower(piece, c.cp);
        } else {
          unicode::append_title(piece, c.cp);
        }
        previous_cased = unicode::is_cased(c.cp);
        break;
      case CaseMap::kCapitalize:
        if (first) {
          unicode::append_title(piece, c.cp);
        } else {
          unicode::append_lower(piece, c.cp);
        }
        break;
    }
    first = false;
    out.append(piece, cursor.is_content(c.begin));
  }
  return out;
}

TrackedString strip(const TrackedString& s, const std::optional<std::string>& chars, bool left, bool right) {
  const auto cps = code_points(s.text());
  std::vector<char32_t> set;
  if (chars) set = decode_all(*chars);
  auto strippable = [&](char32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : unicode::is_space(cp);
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strippable(cps[b].cp)) ++b;
  if (right)
    while (e > b && strippable(cps[e - 1].cp)) --e;
  if (b == e) return TrackedString();
  return s.substr(cps[b].begin, cps[e - 1].end);
}

ValueList split(const TrackedString& s, const std::optional<std::string>& sep, int64_t maxsplit,
                bool from_right) {
  const std::string& t = s.text();
  ValueList out;
  if (sep) {
    if (sep->empty()) raise(ErrorKind::kRuntime, "ValueError: empty separator");
    std::vector<std::pair<size_t, size_t>> pieces;
    if (!from_right) {
      size_t start = 0;
      int64_t n = 0;
      while (maxsplit < 0 || n < maxsplit) {
        const size_t at = t.find(*sep, start);
        if (at == std::string::npos) break;
        pieces.push_back({start, at});
        start = at + sep->size();
        ++n;
      }
      pieces.push_back({start, t.size()});
    } else {
      size_t end = t.size();
      int64_t n = 0;
      while ((maxsplit < 0 || n < maxsplit) && end >= sep->size()) {
        const size_t at = t.rfind(*sep, end - sep->size());
        if (at == std::string::npos) break;
        pieces.push_back({at + sep->size(), end});
        end = at;
        ++n;
      }
      pieces.push_back({0, end});
      std::reverse(pieces.begin(), pieces.end());
    }
    ValueBudget::check_items(pieces.size());
    for (auto [b, e] : pieces) out.push_back(Value::string(s.substr(b, e)));
    return out;
  }
  // Whitespace split: runs of whitespace separate, empty strings never appear.
  const auto cps = code_points(t);
  std::vector<std::pair<size_t, size_t>> words;  // code point index ranges
  if (!from_right) {
    size_t i = 0;
    int64_t n = 0;
    while (i < cps.size()) {
      while (i < cps.size() && unicode::is_space(cps[i].cp)) ++i;
      if (i == cps.size()) break;
      if (maxsplit >= 0 && n == maxsplit) {  // the rest, trailing whitespace included
        words.push_back({i, cps.size()});
        break;
      }
      size_t j = i;
      while (j < cps.size() && !unicode::is_space(cps[j].cp)) ++j;
      words.push_back({i, j});
      ++n;
      i = j;
    }
  } else {
    size_t i = cps.size();
    int64_t n = 0;
    while (i > 0) {
      while (i > 0 && unicode::is_space(cps[i - 1].cp)) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && n == maxsplit) {
        words.push_back({0, i});
        break;
      }
      size_t j = i;
      while (j > 0 && !unicode::is_space(cps[j - 1].cp)) --j;
      words.push_back({j, i});
      ++n;
      i = j;
    }
    std::reverse(words.begin(), words.end());
  }
  ValueBudget::check_items(words.size());
  for (auto [b, e] : words)
    out.push_back(Value::string(s.substr(cps[b].begin, e == cps.size() ? t.size() : cps[e].begin)));
  return out;
}

ValueList splitlines(const TrackedString& s, bool keepends) {
  const std::string& t = s.text();
  ValueList out;
  size_t start = 0;
  for (size_t i = 0; i < t.size();) {
    const auto d = unicode::decode(t, i);
    if (!unicode::is_line_break(d.cp)) {
      i += d.len;
      continue;
    }
    size_t eol = i + d.len;
    if (d.cp == '\r' && eol < t.size() && t[eol] == '\n') ++eol;
    out.push_back(Value::string(s.substr(start, keepends ? eol : i)));
    ValueBudget::check_items(out.size());
    start = i = eol;
  }
  if (start < t.size()) out.push_back(Value::string(s.substr(start, t.size())));
  return out;
}

TrackedString replace(const TrackedString& s, const std::string& old, const TrackedString& replacement,
                      int64_t count, size_t max_bytes) {
  const std::string& t = s.text();
  TrackedString out;
  auto check = [&] {
    if (out.size() > max_bytes) raise(ErrorKind::kLimit, str("string would exceed ", max_bytes, " bytes"));
  };
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    int64_t n = 0;
    size_t i = 0;
    while (true) {
      if (count >= 0 && n >= count) break;
      out.append(replacement);
      ++n;
      check();
      if (i >= t.size()) break;
      const size_t len = unicode::decode(t, i).len;
      out.append(s.substr(i, i + len));
      i += len;
    }
    out.append(s.substr(i, t.size()));
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t at = t.find(old, start);
    if (at == std::string::npos) break;
    out.append(s.substr(start, at));
    out.append(replacement);
    check();
    start = at + old.size();
    ++n;
  }
  out.append(s.substr(start, t.size()));
  check();
  return out;
}

int64_t find(const std::string& s, const std::string& sub, std::optional<int64_t> start,
             std::optional<int64_t> end, bool from_right) {
  const auto n = static_cast<int64_t>(unicode::count_code_points(s));
  auto adjust = [&](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  const int64_t b = start ? adjust(*start) : 0;
  const int64_t e = end ? adjust(*end) : n;
  if (b > e) return -1;
  const size_t bb = unicode::byte_offset(s, static_cast<size_t>(b));
  const size_t eb = unicode::byte_offset(s, static_cast<size_t>(e));
  const std::string_view window = std::string_view(s).substr(bb, eb - bb);
  const size_t at = from_right ? window.rfind(sub) : window.find(sub);
  if (at == std::string::npos) return -1;
  return b + static_cast<int64_t>(unicode::count_code_points(window.substr(0, at)));
}

int64_t count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(unicode::count_code_points(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

TrackedString pad(const TrackedString& s, size_t width, const std::string& fill, char align) {
  const size_t len = unicode::count_code_points(s.text());
  if (len >= width) return s;
  const size_t n = width - len;
  size_t left = 0;
  if (align == '>') left = n;
  // Python's center puts the extra space on the right when the padding is odd and the width is even...
  if (align == '^') left = n / 2 + (n & width & 1);
  std::string l, r;
  for (size_t i = 0; i < left; ++i) l += fill;
  for (size_t i = 0; i < n - left; ++i) r += fill;
  TrackedString out(l);
  out.append(s);
  out.append(r);
  return out;
}

}  // namespace vlm::text::jinja
