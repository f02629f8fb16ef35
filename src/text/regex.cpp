#include "text/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "text/unicode.h"

namespace vlm::text {

namespace {

constexpr const char* kWordClassBody = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Per-thread PCRE2 match state shared by every pattern: one ovector pair is all find_all reads, and a JIT stack
// larger than the 32 KiB default so that long inputs do not hit the JIT stack limit.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  if (!state.data || !state.context) throw Error("out of memory for PCRE2 match data", ErrorKind::kInternal);
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

std::string translate_oniguruma_pattern(const std::string& p, const std::string& where) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t class_start = 0;  // index just after '[' or '[^'
  const auto unsupported = [&](const std::string& what) {
    fail(where, ": regex ", quote(p), ": ", what, " is not supported");
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      switch (e) {
        case 's': out += "\\p{White_Space}"; break;
        case 'S': out += "\\P{White_Space}"; break;
        case 'w': out += in_class ? std::string(kWordClassBody) : str("[", kWordClassBody, "]"); break;
        case 'W':
          if (in_class) unsupported("\\W inside a character class");
          out += str("[^", kWordClassBody, "]");
          break;
        case 'h': out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]"; break;
        case 'H':
          if (in_class) unsupported("\\H inside a character class");
          out += "[^0-9a-fA-F]";
          break;
        case 'u':
          if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4])) {
            out += "\\x{" + p.substr(i + 1, 4) + "}";
            i += 4;
          } else {
            unsupported("\\u without four hex digits");
          }
          break;
        case 'p':
        case 'P':
        case 'x':
          out += '\\';
          out += e;
          if (i + 1 < p.size() && p[i + 1] == '{') {
            const size_t close = p.find('}', i + 1);
            if (close == std::string::npos) unsupported(str("\\", e, "{ without a closing brace"));
            out.append(p, i + 1, close - i);
            i = close;
          }
          break;
        default:
          out += '\\';
          out += e;
          // An escaped multi-byte character: copy its continuation bytes too.
          while (i + 1 < p.size() && (static_cast<unsigned char>(p[i + 1]) & 0xC0) == 0x80) out += p[++i];
      }
      continue;
    }
    if (in_class) {
      if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX class [:alpha:], same in both engines
          const size_t close = p.find(":]", i + 2);
          if (close == std::string::npos) unsupported("an unterminated POSIX class");
          out.append(p, i, close + 2 - i);
          i = close + 1;
          continue;
        }
        unsupported("a nested character class");
      }
      if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') unsupported("class intersection (&&)");
      if (c == ']' && i != class_start) in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      class_start = i + 1;
      continue;
    }
    if (c == '(' && i + 2 < p.size() && p[i + 1] == '?') {
      // Inline flags "(?imx-imx)" or "(?imx-imx:": Oniguruma's m is PCRE2's s.
      size_t j = i + 2;
      while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
      if (j > i + 2 && j < p.size() && (p[j] == ':' || p[j] == ')')) {
        out += "(?";
        for (size_t k = i + 2; k < j; ++k) out += p[k] == 'm' ? 's' : p[k];
        i = j - 1;
        continue;
      }
    }
    out += c;
  }
  if (in_class) unsupported("an unterminated character class");
  return out;
}

std::shared_ptr<const Regex> Regex::compile(const std::string& pattern, const std::string& where) {
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = pattern;
  re->where_ = where;
  VLM_CHECK(unicode::is_valid(pattern), where, ": the regex is not valid UTF-8");
  const std::string translated = translate_oniguruma_pattern(pattern, where);
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &offset, nullptr);
  if (!code) fail(where, ": regex ", quote(pattern), " does not compile (PCRE2, at offset ", offset, " of ",
                  quote(translated), "): ", pcre2_message(err));
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
  re->code_ = code;
  return re;
}

std::shared_ptr<const Regex> Regex::literal(const std::string& text, const std::string& where) {
  if (text.empty()) {
    // An empty String pattern is the empty regex: it matches (emptily) at every character boundary.
    return compile("", where);
  }
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = text;
  re->where_ = where;
  re->literal_ = text;
  re->is_literal_ = true;
  return re;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view text, std::vector<MatchSpan>& out) const {
  if (is_literal_) {
    size_t pos = 0;
    while (pos <= text.size()) {
      const size_t at = text.find(literal_, pos);
      if (at == std::string_view::npos) break;
      out.push_back({at, at + literal_.size()});
      pos = at + literal_.size();
    }
    return;
  }
  auto* code = static_cast<const pcre2_code*>(code_);
  MatchState& state = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t search_from = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (search_from <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK, state.data,
                               state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail(where_, ": regex ", quote(pattern_), " failed on a ", text.size(), "-byte input: ",
                     pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
    const size_t s = ov[0], e = ov[1];
    if (s == e && have_last && last_match_end == e) {
      // No empty match right after the previous match: step over one character and search again.
      search_from += search_from < text.size() ? unicode::utf8_length(static_cast<unsigned char>(text[search_from]))
                                               : 1;
      continue;
    }
    search_from = e;
    have_last = true;
    last_match_end = e;
    out.push_back({s, e});
  }
}

std::string replace_spans(const std::string& text, const std::vector<MatchSpan>& matches, const std::string& with) {
  std::string out;
  out.reserve(text.size());
  size_t prev = 0;
  for (const MatchSpan& m : matches) {
    out.append(text, prev, m.begin - prev);
    out += with;
    prev = m.end;
  }
  out.append(text, prev, std::string::npos);
  return out;
}

}  // namespace vlm::text
