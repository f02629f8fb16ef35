// Code-point helpers that give the Jinja interpreter Python's str semantics on UTF-8 text: indexing and
// length count code points, case mapping and character classes follow Python 3's str methods.
//
// Invalid UTF-8 never fails: each bad byte decodes to one code point U+DC80..U+DCFF (Python's
// "surrogateescape" convention) and encodes back to the same byte, so text round-trips unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vlm::text::jinja::unicode {

struct Decoded {
  char32_t cp;
  size_t len;  // bytes consumed (1..4)
};

// Decodes the code point starting at s[i] (i < s.size()).
Decoded decode(std::string_view s, size_t i);
// Appends cp as UTF-8 (U+DC80..U+DCFF become the raw byte they stand for).
void append_utf8(std::string& out, char32_t cp);

size_t count_code_points(std::string_view s);
// Byte offset of code point number `index` (clamped to s.size()).
size_t byte_offset(std::string_view s, size_t index);

// Python str.isspace() for one code point.
bool is_space(char32_t cp);
// Python str.splitlines() line boundaries (\r\n is handled by the caller).
bool is_line_break(char32_t cp);
// Python str.isprintable() for one code point (used by repr()).
bool is_printable(char32_t cp);
bool is_alpha(char32_t cp);
bool is_decimal(char32_t cp);  // category Nd
bool is_digit(char32_t cp);    // Nd and the other digit characters (superscripts, ...)
bool is_numeric(char32_t cp);  // Nd, Nl, No
bool is_cased(char32_t cp);
bool is_upper(char32_t cp);
bool is_lower(char32_t cp);

// Full case mappings as Python's str.upper()/lower()/title() apply them (a few characters map to several).
void append_upper(std::string& out, char32_t cp);
void append_lower(std::string& out, char32_t cp);
void append_title(std::string& out, char32_t cp);

}  // namespace vlm::text::jinja::unicode
