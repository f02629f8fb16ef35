// UTF-8 and Unicode helpers for the tokenizer, with the exact semantics of the Rust code in HF tokenizers:
// character classes follow Rust's char methods and the `regex` crate, lossy decoding follows
// String::from_utf8_lossy (= Python's bytes.decode("utf-8", errors="replace")), normalisation goes through utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::text::unicode {

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr const char* kReplacementUtf8 = "\xEF\xBF\xBD";

// Length in bytes of the UTF-8 sequence that starts with `lead` (1..4), assuming valid UTF-8.
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the character at s[i] of a VALID UTF-8 string; *len receives its byte length.
inline char32_t decode_at(std::string_view s, size_t i, size_t* len) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c < 0xE0) {
    *len = 2;
    return (char32_t(c & 0x1F) << 6) | (b(1) & 0x3F);
  }
  if (c < 0xF0) {
    *len = 3;
    return (char32_t(c & 0x0F) << 12) | (char32_t(b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  }
  *len = 4;
  return (char32_t(c & 0x07) << 18) | (char32_t(b(1) & 0x3F) << 12) | (char32_t(b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

// The last character of a non-empty VALID UTF-8 string and its start offset.
char32_t decode_last(std::string_view s, size_t* start);

void append_utf8(std::string& out, char32_t cp);

// Python's bytes.decode("utf-8", errors="replace"): every maximal invalid subsequence becomes one U+FFFD.
// Valid input is returned unchanged.
std::string decode_lossy(std::string_view bytes);
// True when `s` is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_valid(std::string_view s);
// Length of the longest prefix of `s` that does not end inside an incomplete (but so far valid) UTF-8 sequence:
// the bytes after it could still become a character when more bytes arrive.
size_t complete_prefix_length(std::string_view s);

// Rust char::is_whitespace (the White_Space property).
bool is_whitespace(char32_t c);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// HF tokenizers' is_punc: ASCII punctuation or a Unicode punctuation category (Pc Pd Ps Pe Pi Pf Po).
bool is_punctuation(char32_t c);
// The `regex` crate's \w: Alphabetic, M, Nd, Pc or Join_Control.
bool is_word_char(char32_t c);
// General category M (Mn, Mc, Me): unicode-normalization's is_combining_mark, used by StripAccents.
bool is_combining_mark(char32_t c);

// Appends Rust's char::to_lowercase(c) (simple mappings plus the unconditional special case U+0130).
void append_lowercase(std::string& out, char32_t c);

// GPT-2's reversible byte <-> character map used by ByteLevel: printable bytes ('!'..'~', 0xA1..0xAC,
// 0xAE..0xFF) map to themselves, the other 68 bytes to U+0100.. in byte order. The UTF-8 of each mapped character is
// precomputed.
const std::string& byte_level_char(unsigned char byte);
// The byte a ByteLevel character stands for, or -1 when `c` is not one of the 256.
int byte_level_byte(char32_t c);

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
// Unicode normalisation of VALID UTF-8 text (embedded NUL bytes allowed).
std::string normalize(std::string_view s, NormalForm form);

}  // namespace vlm::text::unicode
