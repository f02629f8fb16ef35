#include "text/unicode.h"

#include <cstdlib>
#include <array>

#include <pcre2.h>
#include <utf8proc.h>

#include "core/error.h"

namespace vlm::text::unicode {

namespace {

// Number of bytes of the longest valid start of a UTF-8 sequence at s[i] ("maximal subpart"), and whether it is a
// complete character. A lead byte that can never start a character gives length 1, complete = false.
struct SequenceScan {
  size_t length;
  bool complete;
  bool truncated = false;  // a valid start cut short by the end of the input
};

SequenceScan scan_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return {1, true};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false};
  }
  size_t k = 1;
  for (; k < need && i + k < s.size(); ++k) {
    const unsigned char x = b(k);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (x < l || x > h) return {k, false};
  }
  return {k, k == need, k < need};
}

}  // namespace

char32_t decode_last(std::string_view s, size_t* start) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  *start = i;
  size_t len;
  return decode_at(s, i, &len);
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const SequenceScan r = scan_sequence(s, i);
    if (!r.complete) return false;
    i += r.length;
  }
  return true;
}

std::string decode_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    // Copy runs of ASCII quickly.
    size_t j = i;
    while (j < bytes.size() && static_cast<unsigned char>(bytes[j]) < 0x80) ++j;
    out.append(bytes.data() + i, j - i);
    i = j;
    if (i >= bytes.size()) break;
    const SequenceScan r = scan_sequence(bytes, i);
    if (r.complete)
      out.append(bytes.data() + i, r.length);
    else
      out += kReplacementUtf8;
    i += r.length;
  }
  return out;
}

size_t complete_prefix_length(std::string_view s) {
  // Only the last (at most 3) bytes can be an incomplete sequence.
  const size_t from = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = from; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte cannot start a sequence
    const SequenceScan r = scan_sequence(s, i);
    if (r.truncated) return i;
  }
  return s.size();
}

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_combining_mark(char32_t c) {
  if (c < 0x300) return false;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;  // Join_Control
  // Alphabetic is a derived property that utf8proc does not expose; PCRE2 (10.40+) knows it.
  static pcre2_code* const re = [] {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>("[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}]"),
                                     PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off,
                                     nullptr);
    if (!code) throw Error("PCRE2 cannot compile the word-character class (needs PCRE2 10.40 or newer)",
                           ErrorKind::kInternal);
    return code;
  }();
  thread_local pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  std::string buf;
  append_utf8(buf, c);
  return pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(buf.data()), buf.size(), 0, PCRE2_NO_UTF_CHECK, md,
                     nullptr) > 0;
}

namespace {

struct ByteLevelTables {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 512> to_byte;  // every mapped character is below U+0200
  ByteLevelTables() {
    to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      append_utf8(to_char[b], c);
      to_byte[c] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

const std::string& byte_level_char(unsigned char byte) { return byte_level_tables().to_char[byte]; }

int byte_level_byte(char32_t c) { return c < 512 ? byte_level_tables().to_byte[c] : -1; }

void append_lowercase(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> "i" + COMBINING DOT ABOVE (SpecialCasing.txt)
    out += "i\xCC\x87";
    return;
  }
  append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

namespace {

std::string utf8proc_normalize(std::string_view s, NormalForm form) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::kNFC: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::kNFD: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::kNFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::kNFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &result,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) {
    std::free(result);
    throw Error(str("Unicode normalisation failed: ", utf8proc_errmsg(n)), ErrorKind::kInternal);
  }
  std::string out(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
  std::free(result);
  return out;
}

}  // namespace

// Most text is left unchanged by normalisation, and utf8proc is slow, so only the stretches that can change go
// through it. A character below `inert` (U+0300 for NFC, U+00C0 for NFD, U+00A0 for the compatibility forms) is
// unchanged by the form, is a starter, and is never the second half of a composition, so the text can be cut just
// before it; such a character still joins the stretch when the character after it is not inert (it may be the base
// of a composition or of reordered marks).
std::string normalize(std::string_view s, NormalForm form) {
  const char32_t inert = form == NormalForm::kNFC   ? 0x300
                         : form == NormalForm::kNFD ? 0xC0
                                                    : 0xA0;
  size_t first_non_ascii = 0;
  while (first_non_ascii < s.size() && static_cast<unsigned char>(s[first_non_ascii]) < 0x80) ++first_non_ascii;
  if (first_non_ascii == s.size()) return std::string(s);
  const auto char_at = [&](size_t i, size_t* len) -> char32_t {
    return i < s.size() ? decode_at(s, i, len) : (*len = 0, char32_t(0));
  };
  const auto stable = [&](size_t i) {  // the character at i can be copied as is
    size_t len, next_len;
    if (char_at(i, &len) >= inert) return false;
    return i + len >= s.size() || char_at(i + len, &next_len) < inert;
  };
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    char_at(i, &len);
    if (stable(i)) {
      out.append(s.data() + i, len);
      i += len;
      continue;
    }
    size_t j = i + len;
    while (j < s.size() && !stable(j)) {
      char_at(j, &len);
      j += len;
    }
    out += utf8proc_normalize(s.substr(i, j - i), form);
    i = j;
  }
  return out;
}

}  // namespace vlm::text::unicode
