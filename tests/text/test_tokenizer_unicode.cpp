// UTF-8 handling and the Oniguruma -> PCRE2 regex layer of the tokenizer. Expectations come from the Unicode
// standard (maximal-subpart substitution, which Python's errors="replace" and Rust's from_utf8_lossy implement), from
// Rust's char classes, and from the documented find_iter semantics of Oniguruma / the regex crate.
#include <gtest/gtest.h>

#include "core/error.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace vlm::text {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8Lossy, MaximalSubpartsBecomeOneReplacementEach) {
  // Unicode Standard, chapter 3, "U+FFFD Substitution of Maximal Subparts" example.
  EXPECT_EQ(unicode::decode_lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");
  EXPECT_EQ(unicode::decode_lossy("\xE2\x82"), R);               // truncated 3-byte sequence: one U+FFFD
  EXPECT_EQ(unicode::decode_lossy("\xE2\x28\xA1"), R + "(" + R);  // bad second byte ends the subpart
  EXPECT_EQ(unicode::decode_lossy("\xC0\x80"), R + R);           // overlong lead byte is never valid
  EXPECT_EQ(unicode::decode_lossy("\xED\xA0\x80"), R + R + R);   // surrogates are not UTF-8
  EXPECT_EQ(unicode::decode_lossy("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(unicode::decode_lossy("\xF0\x9F\x98"), R);
  EXPECT_EQ(unicode::decode_lossy("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
  EXPECT_EQ(unicode::decode_lossy(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(Utf8Lossy, Validity) {
  EXPECT_TRUE(unicode::is_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(unicode::is_valid("\xC3"));
  EXPECT_FALSE(unicode::is_valid("\xFF"));
  EXPECT_FALSE(unicode::is_valid("\xED\xA0\x80"));
}

TEST(Utf8Lossy, CompletePrefixHoldsBackOnlyAnIncompleteTail) {
  EXPECT_EQ(unicode::complete_prefix_length("abc"), 3u);
  EXPECT_EQ(unicode::complete_prefix_length("ab\xE2\x82"), 2u);
  EXPECT_EQ(unicode::complete_prefix_length("ab\xF0"), 2u);
  EXPECT_EQ(unicode::complete_prefix_length("ab\xFF"), 3u);      // invalid forever: nothing to wait for
  EXPECT_EQ(unicode::complete_prefix_length("ab\xE2\x28"), 4u);  // already broken
}

TEST(UnicodeClasses, MatchRustCharMethods) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\x0B', U'\x0C', U'\x85', U'\xA0', U'\x1680', U'\x2000', U'\x200A',
                     U'\x2028', U'\x2029', U'\x202F', U'\x205F', U'\x3000'})
    EXPECT_TRUE(unicode::is_whitespace(c)) << std::hex << uint32_t(c);
  for (char32_t c : {U'a', U'\x180E', U'\x200B', U'\xFEFF'}) EXPECT_FALSE(unicode::is_whitespace(c));
  EXPECT_TRUE(unicode::is_numeric(U'7'));
  EXPECT_TRUE(unicode::is_numeric(U'\x0663'));  // ARABIC-INDIC DIGIT THREE (Nd)
  EXPECT_TRUE(unicode::is_numeric(U'\x216B'));  // ROMAN NUMERAL TWELVE (Nl)
  EXPECT_TRUE(unicode::is_numeric(U'\xBD'));    // VULGAR FRACTION ONE HALF (No)
  EXPECT_FALSE(unicode::is_numeric(U'x'));
  EXPECT_TRUE(unicode::is_punctuation(U'!'));
  EXPECT_TRUE(unicode::is_punctuation(U'$'));      // ASCII punctuation by Rust's definition
  EXPECT_TRUE(unicode::is_punctuation(U'\x201C'));  // LEFT DOUBLE QUOTATION MARK (Pi)
  EXPECT_FALSE(unicode::is_punctuation(U'\x20AC'));  // EURO SIGN is a symbol
  EXPECT_TRUE(unicode::is_word_char(U'_'));
  EXPECT_TRUE(unicode::is_word_char(U'\x0301'));  // combining mark
  EXPECT_TRUE(unicode::is_word_char(U'\x05D0'));
  EXPECT_FALSE(unicode::is_word_char(U'-'));
  EXPECT_TRUE(unicode::is_combining_mark(U'\x093F'));  // DEVANAGARI VOWEL SIGN I (Mc)
  EXPECT_FALSE(unicode::is_combining_mark(U'a'));
  std::string lower;
  unicode::append_lowercase(lower, U'\x130');
  unicode::append_lowercase(lower, U'\x3A3');
  unicode::append_lowercase(lower, U'A');
  EXPECT_EQ(lower, "i\xCC\x87\xCF\x83" "a");  // İ -> i + U+0307; Σ -> σ (no final-sigma rule per character)
}

TEST(UnicodeNormalization, Forms) {
  EXPECT_EQ(unicode::normalize("e\xCC\x81", unicode::NormalForm::kNFC), "\xC3\xA9");
  EXPECT_EQ(unicode::normalize("\xC3\xA9", unicode::NormalForm::kNFD), "e\xCC\x81");
  EXPECT_EQ(unicode::normalize("\xEF\xAC\x81", unicode::NormalForm::kNFKC), "fi");  // U+FB01 LATIN SMALL LIGATURE FI
  EXPECT_EQ(unicode::normalize("\xEF\xBC\xA1", unicode::NormalForm::kNFKD), "A");   // FULLWIDTH A
  EXPECT_EQ(unicode::normalize(std::string("a\0b", 3), unicode::NormalForm::kNFC), std::string("a\0b", 3));
}

TEST(ByteLevelTable, IsGpt2Mapping) {
  EXPECT_EQ(unicode::byte_level_char('A'), "A");
  EXPECT_EQ(unicode::byte_level_char(' '), "\xC4\xA0");   // Ġ = U+0120
  EXPECT_EQ(unicode::byte_level_char('\n'), "\xC4\x8A");  // Ċ = U+010A
  EXPECT_EQ(unicode::byte_level_char(0xAD), "\xC5\x83");  // soft hyphen is not printable: U+0143
  for (int b = 0; b < 256; ++b) {
    size_t len;
    const std::string& c = unicode::byte_level_char(static_cast<unsigned char>(b));
    EXPECT_EQ(unicode::byte_level_byte(unicode::decode_at(c, 0, &len)), b);
  }
}

std::vector<std::string> matches(const std::string& pattern, const std::string& text) {
  std::vector<MatchSpan> spans;
  Regex::compile(pattern, "test")->find_all(text, spans);
  std::vector<std::string> out;
  for (const auto& m : spans) out.push_back(text.substr(m.begin, m.end - m.begin));
  return out;
}

const char* const kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

TEST(Regex, FamilyPatternsBehaveAsInOniguruma) {
  using V = std::vector<std::string>;
  // \s+(?!\S) leaves the last space to the following word.
  EXPECT_EQ(matches(kQwen2, "a   b"), (V{"a", "  ", " b"}));
  // (?i:'s) matches upper case; \p{N} takes one digit (Qwen2), \p{N}{1,3} up to three (Llama-3).
  EXPECT_EQ(matches(kQwen2, "IT'S 1234"), (V{"IT", "'S", " ", "1", "2", "3", "4"}));
  EXPECT_EQ(matches(kLlama3, "IT'S 1234"), (V{"IT", "'S", " ", "123", "4"}));
  // [^\r\n\p{L}\p{N}]? glues one leading non-letter to a word; newlines form their own piece.
  EXPECT_EQ(matches(kQwen2, "hi,there\n\nyou"), (V{"hi", ",there", "\n\n", "you"}));
  EXPECT_EQ(matches(kQwen2, "\xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87"), (V{"\xC3\xA9t\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87"}));
}

TEST(Regex, EmptyMatchesFollowFindIterRules) {
  using V = std::vector<std::string>;
  EXPECT_EQ(matches("", "ab"), (V{"", "", ""}));
  EXPECT_EQ(matches("a*", "baaa"), (V{"", "aaa"}));
  EXPECT_EQ(matches("x*", "\xC3\xA9"), (V{"", ""}));  // steps over a whole character, never into it
}

TEST(Regex, TranslationKeepsOnigurumaMeaning) {
  EXPECT_EQ(translate_oniguruma_pattern("\\s+", "t"), "\\p{White_Space}+");
  EXPECT_EQ(translate_oniguruma_pattern("[^\\s\\p{L}]", "t"), "[^\\p{White_Space}\\p{L}]");
  EXPECT_EQ(translate_oniguruma_pattern("(?m:.)\\u00e9", "t"), "(?s:.)\\x{00e9}");
  EXPECT_EQ(matches("\\s", "\xE1\xA0\x8E"), std::vector<std::string>{});  // U+180E is not White_Space
  EXPECT_EQ(matches("\\w+", "e\xCC\x81t\xC3\xA9_1 x"), (std::vector<std::string>{"e\xCC\x81t\xC3\xA9_1", "x"}));
  EXPECT_THROW(translate_oniguruma_pattern("[a[b]]", "t"), Error);
  EXPECT_THROW(translate_oniguruma_pattern("[\\W]", "t"), Error);
  try {
    Regex::compile("(unclosed", "tokenizer.json: pre_tokenizer.pattern.Regex");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pre_tokenizer.pattern.Regex"), std::string::npos) << e.what();
  }
}

TEST(Regex, LiteralPatterns) {
  std::vector<MatchSpan> spans;
  Regex::literal("ab", "t")->find_all("aabbab", spans);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].begin, 1u);
  EXPECT_EQ(spans[1].begin, 4u);
  spans.clear();
  Regex::literal(".*", "t")->find_all("a.*b", spans);  // metacharacters are literal
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, 1u);
}

}  // namespace
}  // namespace vlm::text
