// Regexes of tokenizer.json files through PCRE2 (8-bit, UTF + UCP, JIT when available).
//
// HF tokenizers compiles Split/Replace patterns with Oniguruma and its own fixed patterns with the Rust `regex`
// crate; a few escapes mean something else in PCRE2, so patterns are translated before compiling:
//   \s \S   -> \p{White_Space} / \P{White_Space}   (PCRE2's \s also matches U+180E, Oniguruma's does not)
//   \w \W   -> Alphabetic, M, Nd, Pc, Join_Control (PCRE2 10.42's \w lacks marks); \W inside [...] is an error
//   \h \H   -> hex digit (Oniguruma) instead of horizontal space (PCRE2)
//   \uHHHH  -> \x{HHHH}
//   (?m...) -> (?s...) (Oniguruma's m is "dot matches newline"); ^ and $ are line anchors in both (MULTILINE).
// Everything else (\p{L}, (?i:...), lookarounds, {m,n}) has the same meaning in both engines.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::text {

struct MatchSpan {
  size_t begin, end;
};

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax). A pattern PCRE2 rejects is an error naming `where` and the offset.
  static std::shared_ptr<const Regex> compile(const std::string& pattern, const std::string& where);
  // Matches `text` literally (String patterns of Split and Replace).
  static std::shared_ptr<const Regex> literal(const std::string& text, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // All matches, leftmost first, non-overlapping, as Oniguruma's find_iter yields them: an empty match is
  // reported unless it directly follows the previous match, in which case the search moves on one character.
  // `text` must be valid UTF-8 (it is not checked again).
  void find_all(std::string_view text, std::vector<MatchSpan>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code*
  std::string pattern_, where_;
  std::string literal_;  // non-empty for literal patterns, searched with std::string_view::find
  bool is_literal_ = false;
};

// The Oniguruma -> PCRE2 translation described above (exposed for tests).
std::string translate_oniguruma_pattern(const std::string& pattern, const std::string& where);

// `text` with every span of `matches` (sorted, disjoint) replaced by `with`.
std::string replace_spans(const std::string& text, const std::vector<MatchSpan>& matches, const std::string& with);

}  // namespace vlm::text
